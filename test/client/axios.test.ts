import axios, { AxiosError, type AxiosResponse } from "axios";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AxiosIdempotencyOptions, idempotencyInfo, withIdempotency } from "../../src/client/axios.js";
import {
  IdempotencyRequestError,
  RetriesExhaustedError,
  RetryDeadlineError,
  type RetryInfo,
} from "../../src/client/index.js";
import { startServer, type TestServer } from "./server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const api = (options: AxiosIdempotencyOptions = {}) =>
  withIdempotency(axios.create({ baseURL: server.url }), { backoff: { base: 5, cap: 20 }, ...options });

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to reject");
}

async function until(condition: () => boolean, what: string, ms = 5_000) {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("oncely/client/axios", () => {
  it("effect done, answer lost: one effect, the stored answer, replayed, one key on both attempts", async () => {
    const before = server.effects("charges");
    const seen = server.arrivals("/charges").length;
    const retries: RetryInfo<AxiosResponse>[] = [];
    server.dropAnswers(1);

    const response = await api({ onRetry: (info) => void retries.push(info) }).post("/charges", { amount: 500 });

    expect(response.status).toBe(201);
    expect(response.headers["idempotent-replayed"]).toBe("true");
    expect(response.data).toEqual({ charge: before + 1, body: '{"amount":500}' });
    expect(server.effects("charges")).toBe(before + 1);
    const keys = server
      .arrivals("/charges")
      .slice(seen)
      .map((arrival) => arrival.key);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(idempotencyInfo(response)).toEqual({ idempotencyKey: keys[0], replayed: true, attempts: 2 });
    expect((retries[0]!.error as AxiosError).code).toBe("ECONNRESET");
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

  it("409 in flight, then the first request's answer", async () => {
    const slow = server.holdSlow();
    const key = `axios-in-flight-${Date.now()}`;
    const first = fetch(`${server.url}/slow`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify({ n: 1 }),
    });
    await until(() => server.effects("slow") >= 1 && server.arrivals("/slow").length >= 1, "the first request");
    const before = server.effects("slow");
    const retries: RetryInfo<AxiosResponse>[] = [];

    const response = await api({
      onRetry: (info) => {
        retries.push(info);
        slow.open();
      },
    }).post("/slow", { n: 1 }, { idempotency: { idempotencyKey: key } });

    expect(response.status).toBe(201);
    expect(idempotencyInfo(response)).toEqual({ idempotencyKey: key, replayed: true, attempts: 2 });
    expect(retries[0]!.response?.status).toBe(409);
    expect(retries[0]!.delay).toBeGreaterThanOrEqual(1000);
    expect(server.effects("slow")).toBe(before);
    expect((await first).status).toBe(201);
  });

  it("422 stops at once with IdempotencyRequestError (cause: the AxiosError)", async () => {
    const key = `axios-reused-${Date.now()}`;
    await api().post("/charges", { a: 1 }, { idempotency: { idempotencyKey: key } });
    const seen = server.arrivals("/charges").length;
    const error = await rejection(api().post("/charges", { a: 2 }, { idempotency: { idempotencyKey: key } }));
    expect(error).toBeInstanceOf(IdempotencyRequestError);
    expect(error).toMatchObject({ status: 422, attempts: 1, idempotencyKey: key });
    expect((error as IdempotencyRequestError).problem.type).toBe("urn:oncely:problem:fingerprint-mismatch");
    expect((error as Error).cause).toBeInstanceOf(AxiosError);
    expect(server.arrivals("/charges").length).toBe(seen + 1);
  });

  it("400 stops at once with IdempotencyRequestError", async () => {
    const seen = server.arrivals("/charges").length;
    const error = await rejection(api().post("/charges", {}, { idempotency: { idempotencyKey: "k".repeat(300) } }));
    expect(error).toMatchObject({ status: 400, attempts: 1 });
    expect((error as IdempotencyRequestError).problem.type).toBe("urn:oncely:problem:invalid-key");
    expect(server.arrivals("/charges").length).toBe(seen + 1);
  });

  it("honours Retry-After", async () => {
    server.script("axios-after", { status: 503, headers: { "retry-after": "1" } });
    const response = await api().post("/script/axios-after");
    expect(response.status).toBe(200);
    const [first, second] = server.arrivals("/script/axios-after");
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1000);
    expect(second!.key).toBe(first!.key);
  });

  it("rejects with axios's own error once a retryable status has used up the retries", async () => {
    server.script("axios-spent", { status: 503 }, { status: 503 });
    const error = await rejection(api({ retries: 1 }).post("/script/axios-spent"));
    expect(error).toBeInstanceOf(AxiosError);
    const response = (error as AxiosError).response!;
    expect(response.status).toBe(503);
    expect(idempotencyInfo(response)?.attempts).toBe(2);
  });

  it("throws RetriesExhaustedError when no attempt got a response", async () => {
    server.script("axios-drops", "drop", "drop");
    const error = await rejection(api({ retries: 1 }).post("/script/axios-drops"));
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect((error as Error).cause).toBeInstanceOf(AxiosError);
  });

  it("keeps the deadline, aborting an attempt still running at it", async () => {
    server.script("axios-hang", "hang");
    const error = await rejection(api({ deadline: 200 }).post("/script/axios-hang"));
    expect(error).toBeInstanceOf(RetryDeadlineError);
    expect(error).toMatchObject({ attempts: 1 });
    await until(() => server.closed("axios-hang") === 1, "the server to see the connection closed");
  });

  it("keeps the deadline across waits: no attempt starts after it", async () => {
    server.script("axios-503s", ...Array.from({ length: 100 }, () => ({ status: 503 })));
    const starts: number[] = [];
    const instance = axios.create({ baseURL: server.url });
    // Request interceptors run last-registered first: this one runs after oncely's, as the attempt goes out.
    instance.interceptors.request.use((config) => {
      starts.push(performance.now());
      return config;
    });
    const error = await rejection(
      withIdempotency(instance, { deadline: 250, retries: 1000, backoff: { base: 20, cap: 40 } }).post(
        "/script/axios-503s",
      ),
    );
    expect(error).toBeInstanceOf(RetryDeadlineError);
    expect(error).toMatchObject({ lastStatus: 503 });
    expect(starts.length).toBeGreaterThan(1);
    expect((error as RetryDeadlineError).attempts).toBe(starts.length);
    // The client's clock starts just before its first attempt, so times from that attempt never overstate it.
    for (const start of starts) expect(start - starts[0]!).toBeLessThan(250);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.arrivals("/script/axios-503s")).toHaveLength(starts.length);
  });

  it("retries an attempt that timed out", async () => {
    server.script("axios-slow-once", "hang");
    const response = await api({ timeout: 400 }).post("/script/axios-slow-once");
    expect(response.status).toBe(200);
    expect(idempotencyInfo(response)?.attempts).toBe(2);
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

  it("retries a GET without a key; never retries a POST sent without one", async () => {
    server.script("axios-get", "drop");
    const response = await api().get("/script/axios-get");
    expect(response.status).toBe(200);
    expect(server.arrivals("/script/axios-get").map((arrival) => arrival.key)).toEqual([undefined, undefined]);

    server.script("axios-no-key", "drop");
    const error = await rejection(api().post("/script/axios-no-key", null, { idempotency: { idempotencyKey: false } }));
    expect((error as AxiosError).code).toBe("ECONNRESET");
    expect(server.arrivals("/script/axios-no-key")).toHaveLength(1);
  });

  it("each call gets its own key; a key set in the headers is kept", async () => {
    const client = api();
    await client.post("/script/axios-keys");
    await client.post("/script/axios-keys");
    await client.post("/script/axios-keys", null, { headers: { "Idempotency-Key": "mine" } });
    const keys = server.arrivals("/script/axios-keys").map((arrival) => arrival.key);
    expect(new Set(keys).size).toBe(3);
    expect(keys[2]).toBe("mine");
  });
});
