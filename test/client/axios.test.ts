import axios, { AxiosError, type AxiosResponse } from "axios";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AxiosIdempotencyOptions, idempotencyInfo, withIdempotency } from "../../src/client/axios.js";
import { IdempotencyRequestError } from "../../src/client/index.js";
import { type Call, clientScenarios, type DriverResponse, fastBackoff, rejection } from "./scenarios.js";
import { startServer, type TestServer } from "./server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const api = (options: AxiosIdempotencyOptions = {}) =>
  withIdempotency(axios.create({ baseURL: server.url }), { ...fastBackoff, ...options });

const adapt = (response: AxiosResponse): DriverResponse => ({
  status: response.status,
  header: (name) => response.headers[name] as string | undefined,
  body: async () => response.data,
  info: idempotencyInfo(response),
});

const call = (path: string, method: "get" | "post", body: unknown, { options, key, headers, onAttempt }: Call = {}) => {
  const instance = axios.create({ baseURL: server.url });
  // Request interceptors run last-registered first: this one runs after oncely's, as the attempt goes out.
  instance.interceptors.request.use((config) => {
    onAttempt?.();
    return config;
  });
  const client = withIdempotency(instance, { ...fastBackoff, ...(options as AxiosIdempotencyOptions) });
  const config = { headers, ...(key === undefined ? {} : { idempotency: { idempotencyKey: key } }) };
  return (method === "get" ? client.get(`/${path}`, config) : client.post(`/${path}`, body, config)).then(adapt);
};

describe("oncely/client/axios", () => {
  clientScenarios(() => server, {
    name: "axios",
    post: (path, body, options) => call(path, "post", body, options),
    get: (path, options) => call(path, "get", undefined, options),
    httpErrorStatus: (error) => (error instanceof AxiosError ? error.response?.status : undefined),
    isNetworkError: (error) => error instanceof AxiosError && error.response === undefined,
    // axios times attempts itself (oncely hands it `timeout`) and says so with its own code.
    isAttemptTimeout: (error) => error instanceof AxiosError && error.code === AxiosError.ECONNABORTED,
  });

  it("sends a FormData body byte for byte on the retry, under a Content-Type naming its boundary", async () => {
    for (const headers of [{}, { "Content-Type": "multipart/form-data" }]) {
      const before = server.effects("charges");
      const seen = server.arrivals("/charges").length;
      server.dropAnswers(1);
      const form = new FormData();
      form.set("item", "book");
      const response = await api().post("/charges", form, { headers });
      expect(response.status).toBe(201);
      expect(idempotencyInfo(response)?.replayed).toBe(true);
      expect(server.effects("charges")).toBe(before + 1);
      const contentType = String(server.arrivals("/charges")[seen]!.headers["content-type"]);
      const boundary = /boundary=(.+)$/.exec(contentType)?.[1];
      expect(boundary).toBeTruthy();
      expect((response.data as { body: string }).body).toContain(`--${boundary}`);
    }
  });

  it("a refusal's cause is the AxiosError, and a spent retryable status's error carries the call's info", async () => {
    const key = `axios-reused-${Date.now()}`;
    await api().post("/charges", { a: 1 }, { idempotency: { idempotencyKey: key } });
    const refused = await rejection(api().post("/charges", { a: 2 }, { idempotency: { idempotencyKey: key } }));
    expect(refused).toBeInstanceOf(IdempotencyRequestError);
    expect((refused as Error).cause).toBeInstanceOf(AxiosError);

    server.script("axios-spent-info", { status: 503 }, { status: 503 });
    const spent = await rejection(api({ retries: 1 }).post("/script/axios-spent-info"));
    expect(idempotencyInfo((spent as AxiosError).response!)?.attempts).toBe(2);
  });

  it("an AbortSignal cancels a pending backoff with axios's CanceledError, sending nothing more", async () => {
    server.script("axios-abort", { status: 503, headers: { "retry-after": "30" } });
    const controller = new AbortController();
    const error = await rejection(
      api({ onRetry: () => void setTimeout(() => controller.abort(), 20) }).post("/script/axios-abort", null, {
        signal: controller.signal,
      }),
    );
    expect(axios.isCancel(error)).toBe(true);
    expect(server.arrivals("/script/axios-abort")).toHaveLength(1);
  });
});
