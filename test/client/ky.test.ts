import ky, { HTTPError, type KyInstance } from "ky";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AttemptTimeoutError, RetriesExhaustedError } from "../../src/client/index.js";
import {
  idempotencyInfo,
  idempotencyOptions,
  type KyIdempotencyOptions,
  withIdempotency,
} from "../../src/client/ky.js";
import { until } from "../support/until.js";
import { type Call, clientScenarios, fastBackoff, rejection } from "./scenarios.js";
import { startServer, type TestServer } from "./server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const api = (options: KyIdempotencyOptions = {}): KyInstance =>
  withIdempotency(ky.create({ prefixUrl: server.url }), { ...fastBackoff, ...options });

const call = async (
  path: string,
  method: "get" | "post",
  body: unknown,
  { options, key, headers, onAttempt }: Call = {},
) => {
  const attemptFetch = (request: Request, init: RequestInit) => {
    onAttempt?.();
    return globalThis.fetch(request, init);
  };
  const client = api({ ...(options as KyIdempotencyOptions), fetch: attemptFetch });
  const response = await client(path, {
    method,
    ...(body === undefined ? {} : { json: body }),
    ...(headers ? { headers } : {}),
    ...(key === undefined ? {} : { context: { idempotency: { idempotencyKey: key } } }),
  });
  return {
    status: response.status,
    header: (name: string) => response.headers.get(name),
    body: () => response.json(),
    info: idempotencyInfo(response),
  };
};

describe("oncely/client/ky", () => {
  clientScenarios(() => server, {
    name: "ky",
    post: (path, body, options) => call(path, "post", body, options),
    get: (path, options) => call(path, "get", undefined, options),
    httpErrorStatus: (error) => (error instanceof HTTPError ? error.response.status : undefined),
    isNetworkError: (error) => error instanceof TypeError,
    isAttemptTimeout: (error) => error instanceof AttemptTimeoutError,
  });

  it("sends a FormData body byte for byte on the retry", async () => {
    const before = server.effects("charges");
    server.dropAnswers(1);
    const form = new FormData();
    form.set("item", "book");
    const response = await api().post("charges", { body: form });
    expect(response.status).toBe(201);
    expect(idempotencyInfo(response)?.replayed).toBe(true);
    expect(server.effects("charges")).toBe(before + 1);
  });

  it("with throwHttpErrors: false, the last retryable response resolves, with its info", async () => {
    server.script("ky-spent-quiet", { status: 503 }, { status: 503 });
    const response = await api({ retries: 1 }).post("script/ky-spent-quiet", { throwHttpErrors: false });
    expect(response.status).toBe(503);
    expect(idempotencyInfo(response)?.attempts).toBe(2);
  });

  it("an AbortSignal cancels a pending backoff and an attempt in flight", async () => {
    server.script("ky-abort-wait", { status: 503, headers: { "retry-after": "30" } });
    const waiting = new AbortController();
    const error = await rejection(
      api({ onRetry: () => void setTimeout(() => waiting.abort(), 20) }).post("script/ky-abort-wait", {
        signal: waiting.signal,
      }),
    );
    expect((error as Error).name).toBe("AbortError");
    expect(server.arrivals("/script/ky-abort-wait")).toHaveLength(1);

    server.script("ky-abort-flight", "hang");
    const flying = new AbortController();
    const call = api().post("script/ky-abort-flight", { signal: flying.signal });
    await until(() => server.arrivals("/script/ky-abort-flight").length === 1, "the attempt to arrive");
    flying.abort();
    expect(((await rejection(call)) as Error).name).toBe("AbortError");
    await until(() => server.closed("ky-abort-flight") === 1, "the server to see the connection closed");
  });

  it("the caller's AbortSignal.timeout() ends the call; it is not an attempt timeout to retry", async () => {
    server.script("ky-caller-timeout", "hang", "hang", "hang");
    const error = await rejection(api().post("script/ky-caller-timeout", { signal: AbortSignal.timeout(150) }));
    expect((error as Error).name).toBe("TimeoutError");
    expect(error).not.toBeInstanceOf(RetriesExhaustedError);
    expect(server.arrivals("/script/ky-caller-timeout")).toHaveLength(1);
  });

  it("a network error during a network-error backoff is cancelled too", async () => {
    server.script("ky-abort-net", "drop");
    const controller = new AbortController();
    const error = await rejection(
      api({
        backoff: { base: 30_000, cap: 30_000 },
        onRetry: () => void setTimeout(() => controller.abort(), 20),
      }).post("script/ky-abort-net", { signal: controller.signal }),
    );
    expect((error as Error).name).toBe("AbortError");
    expect(server.arrivals("/script/ky-abort-net")).toHaveLength(1);
  });

  it("works spread into ky.create, a call's own key on each", async () => {
    const client = ky.create({ prefixUrl: server.url, ...idempotencyOptions() });
    await client.post("script/ky-spread-keys");
    await client.post("script/ky-spread-keys");
    await client.post("script/ky-spread-keys", { headers: { "Idempotency-Key": "mine" } });
    const keys = server.arrivals("/script/ky-spread-keys").map((arrival) => arrival.key);
    expect(new Set(keys).size).toBe(3);
    expect(keys[2]).toBe("mine");
  });
});
