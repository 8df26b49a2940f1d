import ky, { HTTPError, type KyInstance } from "ky";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AttemptTimeoutError,
  IdempotencyRequestError,
  RetriesExhaustedError,
  RetryDeadlineError,
  type RetryInfo,
} from "../../src/client/index.js";
import {
  idempotencyInfo,
  idempotencyOptions,
  type KyIdempotencyOptions,
  withIdempotency,
} from "../../src/client/ky.js";
import { startServer, type TestServer } from "./server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const api = (options: KyIdempotencyOptions = {}): KyInstance =>
  withIdempotency(ky.create({ prefixUrl: server.url }), { backoff: { base: 5, cap: 20 }, ...options });

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

describe("oncely/client/ky", () => {
  it("effect done, answer lost: one effect, the stored answer, replayed, one key on both attempts", async () => {
    const before = server.effects("charges");
    const seen = server.arrivals("/charges").length;
    const retries: RetryInfo[] = [];
    server.dropAnswers(1);

    const response = await api({ onRetry: (info) => void retries.push(info) }).post("charges", {
      json: { amount: 700 },
    });

    expect(response.status).toBe(201);
    expect(response.headers.get("idempotent-replayed")).toBe("true");
    expect(await response.json()).toEqual({ charge: before + 1, body: '{"amount":700}' });
    expect(server.effects("charges")).toBe(before + 1);
    const keys = server
      .arrivals("/charges")
      .slice(seen)
      .map((arrival) => arrival.key);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(idempotencyInfo(response)).toEqual({ idempotencyKey: keys[0], replayed: true, attempts: 2 });
    expect(retries).toHaveLength(1);
    expect(retries[0]!.error).toBeInstanceOf(TypeError);
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

  it("409 in flight, then the first request's answer", async () => {
    const slow = server.holdSlow();
    const key = `ky-in-flight-${Date.now()}`;
    const first = fetch(`${server.url}/slow`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify({ n: 1 }),
    });
    await until(() => server.effects("slow") >= 1 && server.arrivals("/slow").length >= 1, "the first request");
    const before = server.effects("slow");
    const retries: RetryInfo[] = [];

    const response = await api({
      onRetry: (info) => {
        retries.push(info);
        slow.open();
      },
    }).post("slow", { json: { n: 1 }, context: { idempotency: { idempotencyKey: key } } });

    expect(response.status).toBe(201);
    expect(idempotencyInfo(response)).toEqual({ idempotencyKey: key, replayed: true, attempts: 2 });
    expect(retries[0]!.response?.status).toBe(409);
    expect(retries[0]!.delay).toBeGreaterThanOrEqual(1000);
    expect(server.effects("slow")).toBe(before);
    expect((await first).status).toBe(201);
  });

  it("422 stops at once with IdempotencyRequestError", async () => {
    const key = `ky-reused-${Date.now()}`;
    await api().post("charges", { json: { a: 1 }, context: { idempotency: { idempotencyKey: key } } });
    const seen = server.arrivals("/charges").length;
    const error = await rejection(
      api().post("charges", { json: { a: 2 }, context: { idempotency: { idempotencyKey: key } } }),
    );
    expect(error).toBeInstanceOf(IdempotencyRequestError);
    expect(error).toMatchObject({ status: 422, attempts: 1, idempotencyKey: key });
    expect((error as IdempotencyRequestError).problem.type).toBe("urn:oncely:problem:fingerprint-mismatch");
    expect(server.arrivals("/charges").length).toBe(seen + 1);
  });

  it("400 stops at once with IdempotencyRequestError", async () => {
    const seen = server.arrivals("/required").length;
    const error = await rejection(
      api().post("required", { json: {}, context: { idempotency: { idempotencyKey: false } } }),
    );
    expect(error).toMatchObject({ status: 400, attempts: 1 });
    expect((error as IdempotencyRequestError).problem.type).toBe("urn:oncely:problem:missing-key");
    expect(server.arrivals("/required").length).toBe(seen + 1);
  });

  it("honours Retry-After", async () => {
    server.script("ky-after", { status: 429, headers: { "retry-after": "1" } });
    const response = await api().post("script/ky-after");
    expect(response.status).toBe(200);
    const [first, second] = server.arrivals("/script/ky-after");
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1000);
    expect(second!.key).toBe(first!.key);
  });

  it("rejects with ky's HTTPError once a retryable status has used up the retries", async () => {
    server.script("ky-spent", { status: 503 }, { status: 503 });
    const error = await rejection(api({ retries: 1 }).post("script/ky-spent"));
    expect(error).toBeInstanceOf(HTTPError);
    expect((error as HTTPError).response.status).toBe(503);
    expect(server.arrivals("/script/ky-spent")).toHaveLength(2);
  });

  it("with throwHttpErrors: false, the last retryable response resolves, with its info", async () => {
    server.script("ky-spent-quiet", { status: 503 }, { status: 503 });
    const response = await api({ retries: 1 }).post("script/ky-spent-quiet", { throwHttpErrors: false });
    expect(response.status).toBe(503);
    expect(idempotencyInfo(response)?.attempts).toBe(2);
  });

  it("throws RetriesExhaustedError when no attempt got a response", async () => {
    server.script("ky-drops", "drop", "drop");
    const error = await rejection(api({ retries: 1 }).post("script/ky-drops"));
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect(error).toMatchObject({ attempts: 2 });
  });

  it("keeps the deadline, aborting an attempt still running at it", async () => {
    server.script("ky-hang", "hang");
    const error = await rejection(api({ deadline: 200 }).post("script/ky-hang"));
    expect(error).toBeInstanceOf(RetryDeadlineError);
    expect(error).toMatchObject({ attempts: 1 });
    await until(() => server.closed("ky-hang") === 1, "the server to see the connection closed");
  });

  it("keeps the deadline across waits: no attempt starts after it", async () => {
    server.script("ky-503s", ...Array.from({ length: 100 }, () => ({ status: 503 })));
    const starts: number[] = [];
    const error = await rejection(
      api({
        deadline: 250,
        retries: 1000,
        backoff: { base: 20, cap: 40 },
        fetch: (request, init) => {
          starts.push(performance.now());
          return globalThis.fetch(request, init);
        },
      }).post("script/ky-503s"),
    );
    expect(error).toBeInstanceOf(RetryDeadlineError);
    expect(starts.length).toBeGreaterThan(1);
    expect((error as RetryDeadlineError).attempts).toBe(starts.length);
    // The client's clock starts just before its first attempt, so times from that attempt never overstate it.
    for (const start of starts) expect(start - starts[0]!).toBeLessThan(250);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.arrivals("/script/ky-503s")).toHaveLength(starts.length);
  });

  it("retries an attempt that timed out", async () => {
    const retries: RetryInfo[] = [];
    server.script("ky-slow-once", "hang");
    const response = await api({ timeout: 400, onRetry: (info) => void retries.push(info) }).post(
      "script/ky-slow-once",
    );
    expect(response.status).toBe(200);
    expect(idempotencyInfo(response)?.attempts).toBe(2);
    expect(retries[0]!.error).toBeInstanceOf(AttemptTimeoutError);
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

  it("retries a GET without a key; never retries a POST sent without one", async () => {
    server.script("ky-get", "drop", { status: 503 });
    const response = await api().get("script/ky-get");
    expect(response.status).toBe(200);
    expect(server.arrivals("/script/ky-get").map((arrival) => arrival.key)).toEqual([undefined, undefined, undefined]);

    server.script("ky-no-key", "drop");
    const error = await rejection(
      api().post("script/ky-no-key", { context: { idempotency: { idempotencyKey: false } } }),
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(server.arrivals("/script/ky-no-key")).toHaveLength(1);
  });

  it("works spread into ky.create, and each call gets its own key", async () => {
    const client = ky.create({ prefixUrl: server.url, ...idempotencyOptions() });
    await client.post("script/ky-keys");
    await client.post("script/ky-keys");
    await client.post("script/ky-keys", { headers: { "Idempotency-Key": "mine" } });
    const keys = server.arrivals("/script/ky-keys").map((arrival) => arrival.key);
    expect(new Set(keys).size).toBe(3);
    expect(keys[2]).toBe("mine");
  });
});
