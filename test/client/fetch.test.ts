import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AttemptTimeoutError,
  BodyNotReplayableError,
  type ClientOptions,
  createClient,
  IdempotencyRequestError,
  idempotencyInfo,
  idempotentFetch,
  RetriesExhaustedError,
  RetryDeadlineError,
  type RetryInfo,
} from "../../src/client/index.js";
import { until } from "../support/until.js";
import { rejection } from "./scenarios.js";
import { startServer, type TestServer } from "./server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

/** Small waits so the suite stays fast; the policy is the same at any scale. */
const fast = (options: ClientOptions = {}) => createClient({ backoff: { base: 5, cap: 20 }, ...options });

const json = (value: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(value),
});

describe("effect done, answer lost", () => {
  it("retries with the same key: one effect, and the client ends with the stored answer, marked replayed", async () => {
    const before = server.effects("charges");
    const seen = server.arrivals("/charges").length;
    const retries: RetryInfo[] = [];
    server.dropAnswers(1);

    const response = await fast({ onRetry: (info) => void retries.push(info) })(
      `${server.url}/charges`,
      json({ amount: 1000 }),
    );

    expect(response.status).toBe(201);
    expect(response.headers.get("idempotent-replayed")).toBe("true");
    expect(await response.json()).toEqual({ charge: before + 1, body: '{"amount":1000}' });
    expect(server.effects("charges")).toBe(before + 1);
    const arrivals = server.arrivals("/charges").slice(seen);
    expect(arrivals).toHaveLength(2);
    expect(arrivals[0]!.key).toMatch(/^[0-9a-f-]{36}$/);
    expect(arrivals[1]!.key).toBe(arrivals[0]!.key);
    expect(idempotencyInfo(response)).toEqual({ idempotencyKey: arrivals[0]!.key, replayed: true, attempts: 2 });
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({ attempt: 1, key: arrivals[0]!.key });
    expect(retries[0]!.error).toBeInstanceOf(TypeError);
    expect(retries[0]!.response).toBeUndefined();
  });

  const bodies: [string, () => BodyInit, string][] = [
    ["a string", () => "plain text", "plain text"],
    ["an ArrayBuffer", () => new TextEncoder().encode("bytes").buffer as ArrayBuffer, "bytes"],
    ["a Uint8Array", () => new TextEncoder().encode("view"), "view"],
    ["a Blob", () => new Blob(["blob"], { type: "text/plain" }), "blob"],
    ["URLSearchParams", () => new URLSearchParams({ a: "1", b: "2" }), "a=1&b=2"],
    ["FormData", () => formData(), 'name="item"'],
    [
      "a ReadableStream",
      () =>
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode("str"));
            controller.enqueue(new TextEncoder().encode("eam"));
            controller.close();
          },
        }),
      "stream",
    ],
  ];
  for (const [kind, make, expected] of bodies) {
    it(`sends ${kind} body byte for byte on the retry (no 422 from the fingerprint)`, async () => {
      const before = server.effects("charges");
      server.dropAnswers(1);
      const response = await fast()(`${server.url}/charges`, { method: "POST", body: make() });
      expect(response.status).toBe(201);
      expect(idempotencyInfo(response)).toMatchObject({ replayed: true, attempts: 2 });
      expect(((await response.json()) as { body: string }).body).toContain(expected);
      expect(server.effects("charges")).toBe(before + 1);
    });
  }

  it("takes a Request apart, reads its body once, and replays it", async () => {
    const before = server.effects("charges");
    server.dropAnswers(1);
    const request = new Request(`${server.url}/charges`, json({ from: "request" }));
    const response = await fast()(request);
    expect(response.status).toBe(201);
    expect(idempotencyInfo(response)).toMatchObject({ replayed: true, attempts: 2 });
    expect(server.effects("charges")).toBe(before + 1);
  });

  it("refuses a stream body over maxBodyBytes before sending anything", async () => {
    const seen = server.arrivals("/charges").length;
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new Uint8Array(64));
        controller.enqueue(new Uint8Array(64));
        controller.close();
      },
    });
    const error = await rejection(fast({ maxBodyBytes: 100 })(`${server.url}/charges`, { method: "POST", body }));
    expect(error).toBeInstanceOf(BodyNotReplayableError);
    expect((error as BodyNotReplayableError).code).toBe("body_not_replayable");
    expect(server.arrivals("/charges").length).toBe(seen);
  });
});

describe("409 while the first request is still running", () => {
  it("waits out the 409 (Retry-After: 1) and gets the first request's answer", async () => {
    const slow = server.holdSlow();
    const key = `in-flight-${Date.now()}`;
    const first = fetch(`${server.url}/slow`, { ...json({ n: 1 }), headers: { "idempotency-key": key } });
    await until(() => server.effects("slow") >= 1, "the first request to start");
    const before = server.effects("slow");
    const retries: RetryInfo[] = [];

    const response = await fast({
      onRetry: (info) => {
        retries.push(info);
        slow.open();
      },
    })(`${server.url}/slow`, { ...json({ n: 1 }), idempotencyKey: key });

    expect(response.status).toBe(201);
    expect(idempotencyInfo(response)).toEqual({ idempotencyKey: key, replayed: true, attempts: 2 });
    expect(retries).toHaveLength(1);
    expect(retries[0]!.response?.status).toBe(409);
    expect(retries[0]!.retryAfter).toBe(1000);
    expect(retries[0]!.delay).toBeGreaterThanOrEqual(1000);
    expect(server.effects("slow")).toBe(before);
    expect((await first).status).toBe(201);
  });

  it("an attempt that times out is retried with the same key; the 409 after it is waited out", async () => {
    const slow = server.holdSlow();
    const before = server.effects("slow");
    const seen = server.arrivals("/slow").length;
    const retries: RetryInfo[] = [];
    const response = await fast({
      timeout: 400,
      onRetry: (info) => {
        retries.push(info);
        if (info.response?.status === 409) slow.open();
      },
    })(`${server.url}/slow`, json({ n: 2 }));

    expect(response.status).toBe(201);
    expect(idempotencyInfo(response)).toMatchObject({ replayed: true, attempts: 3 });
    expect(retries[0]!.error).toBeInstanceOf(AttemptTimeoutError);
    expect(retries[1]!.response?.status).toBe(409);
    expect(server.effects("slow")).toBe(before + 1);
    const keys = new Set(
      server
        .arrivals("/slow")
        .slice(seen)
        .map((arrival) => arrival.key),
    );
    expect(keys.size).toBe(1);
  });

  it("retries Stripe's idempotency_key_in_use 409, and not a 409 that is the API's own conflict", async () => {
    const stripe = JSON.stringify({ error: { type: "idempotency_error", code: "idempotency_key_in_use" } });
    server.script("stripe-409", { status: 409, body: stripe });
    const retried = await fast()(`${server.url}/script/stripe-409`, { method: "POST" });
    expect(retried.status).toBe(200);
    expect(idempotencyInfo(retried)?.attempts).toBe(2);

    server.script("app-409", { status: 409, body: '{"type":"https://example.com/already-exists"}' });
    const final = await fast()(`${server.url}/script/app-409`, { method: "POST" });
    expect(final.status).toBe(409);
    expect(idempotencyInfo(final)?.attempts).toBe(1);
    expect(server.arrivals("/script/app-409")).toHaveLength(1);
  });
});

describe("Retry-After", () => {
  it("waits at least the advertised seconds", async () => {
    server.script("after-seconds", { status: 503, headers: { "retry-after": "1" } });
    const response = await fast()(`${server.url}/script/after-seconds`, { method: "POST" });
    expect(response.status).toBe(200);
    const [first, second] = server.arrivals("/script/after-seconds");
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1000);
  });

  it("waits until an HTTP-date", async () => {
    const retryAt = new Date(Date.now() + 1500).toUTCString();
    server.script("after-date", { status: 429, headers: { "retry-after": retryAt } });
    const response = await fast()(`${server.url}/script/after-date`, { method: "POST" });
    expect(response.status).toBe(200);
    const [, second] = server.arrivals("/script/after-date");
    expect(second!.wall).toBeGreaterThanOrEqual(Date.parse(retryAt));
  });
});

describe("refusals that retrying cannot fix", () => {
  it("422 (key reused with another body) stops at once with a typed error", async () => {
    const key = `reused-${Date.now()}`;
    const first = await fetch(`${server.url}/charges`, { ...json({ a: 1 }), headers: { "idempotency-key": key } });
    expect(first.status).toBe(201);
    const seen = server.arrivals("/charges").length;
    const retries: RetryInfo[] = [];

    const error = await rejection(
      fast({ onRetry: (info) => void retries.push(info) })(`${server.url}/charges`, {
        ...json({ a: 2 }),
        idempotencyKey: key,
      }),
    );

    expect(error).toBeInstanceOf(IdempotencyRequestError);
    const refused = error as IdempotencyRequestError;
    expect(refused).toMatchObject({ status: 422, code: "idempotency_rejected", attempts: 1, idempotencyKey: key });
    expect(refused.problem.type).toBe("urn:oncely:problem:fingerprint-mismatch");
    expect(refused.problem.title).toBeTruthy();
    expect(retries).toHaveLength(0);
    expect(server.arrivals("/charges").length).toBe(seen + 1);
  });

  it("400 (a malformed key, a missing required key) stops at once with a typed error", async () => {
    const seen = server.arrivals("/charges").length;
    const invalid = await rejection(fast()(`${server.url}/charges`, { ...json({}), idempotencyKey: "x".repeat(300) }));
    expect(invalid).toBeInstanceOf(IdempotencyRequestError);
    expect(invalid).toMatchObject({ status: 400, attempts: 1 });
    expect((invalid as IdempotencyRequestError).problem.type).toBe("urn:oncely:problem:invalid-key");
    expect(server.arrivals("/charges").length).toBe(seen + 1);

    const missing = await rejection(fast()(`${server.url}/required`, { ...json({}), idempotencyKey: false }));
    expect(missing).toMatchObject({ status: 400, attempts: 1 });
    expect((missing as IdempotencyRequestError).problem.type).toBe("urn:oncely:problem:missing-key");
    expect(server.arrivals("/required")).toHaveLength(1);
  });

  it("Stripe's 400 idempotency_error is typed too", async () => {
    const body = JSON.stringify({
      error: { type: "idempotency_error", message: "Keys can only be reused with the same parameters" },
    });
    server.script("stripe-400", { status: 400, body });
    const error = await rejection(fast()(`${server.url}/script/stripe-400`, { method: "POST" }));
    expect(error).toBeInstanceOf(IdempotencyRequestError);
    expect((error as IdempotencyRequestError).problem.detail).toContain("same parameters");
  });

  it("a 400/422 that is the API's own validation answer resolves like fetch, and is not retried", async () => {
    const body = JSON.stringify({ type: "https://example.com/probs/amount", title: "Amount must be positive" });
    server.script("validation", { status: 422, headers: { "content-type": "application/problem+json" }, body });
    const response = await fast()(`${server.url}/script/validation`, { method: "POST" });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ title: "Amount must be positive" });
    expect(server.arrivals("/script/validation")).toHaveLength(1);
  });

  it("501 and 505 are final; a replayed 503 is final", async () => {
    server.script("not-implemented", { status: 501 });
    expect((await fast()(`${server.url}/script/not-implemented`, { method: "POST" })).status).toBe(501);
    expect(server.arrivals("/script/not-implemented")).toHaveLength(1);
    server.script("replayed-503", { status: 503, headers: { "idempotent-replayed": "true" } });
    const replayed = await fast()(`${server.url}/script/replayed-503`, { method: "POST" });
    expect(replayed.status).toBe(503);
    expect(idempotencyInfo(replayed)).toMatchObject({ replayed: true, attempts: 1 });
    expect(server.arrivals("/script/replayed-503")).toHaveLength(1);
  });
});

describe("limits", () => {
  it("keeps the total deadline: attempts stop and the call ends with RetryDeadlineError", async () => {
    server.script("always-503", ...Array.from({ length: 200 }, () => ({ status: 503 })));
    const starts: number[] = [];
    const error = await rejection(
      createClient({
        retries: 1000,
        deadline: 300,
        backoff: { base: 20, cap: 40 },
        fetch: (url, init) => {
          starts.push(performance.now());
          return globalThis.fetch(url, init);
        },
      })(`${server.url}/script/always-503`, { method: "POST" }),
    );
    expect(error).toBeInstanceOf(RetryDeadlineError);
    const deadline = error as RetryDeadlineError;
    expect(deadline).toMatchObject({ code: "retry_deadline_exceeded", deadline: 300, lastStatus: 503 });
    expect(starts.length).toBeGreaterThan(1);
    expect(deadline.attempts).toBe(starts.length);
    // No attempt starts after the deadline (when it ends is the server's business, not a timing assertion here).
    // The client's clock starts just before its first attempt, so times from that attempt never overstate it.
    for (const start of starts) expect(start - starts[0]!).toBeLessThan(300);
    // An attempt that never comes cannot be awaited: give a late one time to arrive before counting.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.arrivals("/script/always-503")).toHaveLength(starts.length);
  });

  it("does not start a wait that would end past the deadline (Retry-After: 30 with 2 s left)", async () => {
    server.script("too-long", { status: 503, headers: { "retry-after": "30" } });
    const error = await rejection(fast({ deadline: "2s" })(`${server.url}/script/too-long`, { method: "POST" }));
    expect(error).toBeInstanceOf(RetryDeadlineError);
    expect(error).toMatchObject({ attempts: 1, lastStatus: 503 });
    expect((error as Error).message).toContain("30000 ms");
  });

  it("aborts an attempt still running at the deadline", async () => {
    server.script("hang-deadline", "hang");
    const error = await rejection(
      fast({ deadline: 200, timeout: 10_000 })(`${server.url}/script/hang-deadline`, { method: "POST" }),
    );
    expect(error).toBeInstanceOf(RetryDeadlineError);
    expect(error).toMatchObject({ attempts: 1 });
    await until(() => server.closed("hang-deadline") === 1, "the server to see the connection closed");
  });

  it("returns the last retryable response when the retries are spent", async () => {
    server.script("spent", { status: 503 }, { status: 502 }, { status: 504 }, { status: 200 });
    const response = await fast({ retries: 2 })(`${server.url}/script/spent`, { method: "POST" });
    expect(response.status).toBe(504);
    expect(idempotencyInfo(response)?.attempts).toBe(3);
    expect(server.arrivals("/script/spent")).toHaveLength(3);
  });

  it("throws RetriesExhaustedError, with the last network error as cause, when no attempt got a response", async () => {
    server.script("drops", "drop", "drop", "drop");
    const error = await rejection(fast({ retries: 2 })(`${server.url}/script/drops`, { method: "POST" }));
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect(error).toMatchObject({ code: "retries_exhausted", attempts: 3 });
    expect((error as Error).cause).toBeInstanceOf(TypeError);
  });

  it("retries an attempt that timed out", async () => {
    server.script("hang-once", "hang");
    const response = await fast({ timeout: 400 })(`${server.url}/script/hang-once`, { method: "POST" });
    expect(response.status).toBe(200);
    expect(idempotencyInfo(response)?.attempts).toBe(2);
  });

  it("per-call retries, deadline and timeout override the client's", async () => {
    server.script("per-call", { status: 503 }, { status: 503 }, { status: 503 });
    const response = await fast({ retries: 5 })(`${server.url}/script/per-call`, { method: "POST", retries: 1 });
    expect(response.status).toBe(503);
    expect(idempotencyInfo(response)?.attempts).toBe(2);
  });
});

describe("AbortSignal", () => {
  it("cancels a pending backoff", async () => {
    server.script("abort-wait", { status: 503, headers: { "retry-after": "30" } });
    const controller = new AbortController();
    const error = await rejection(
      fast({ onRetry: () => void setTimeout(() => controller.abort(), 20) })(`${server.url}/script/abort-wait`, {
        method: "POST",
        signal: controller.signal,
      }),
    );
    expect((error as Error).name).toBe("AbortError");
    expect(server.arrivals("/script/abort-wait")).toHaveLength(1);
  });

  it("cancels an attempt in flight, with the caller's reason", async () => {
    server.script("abort-flight", "hang");
    const controller = new AbortController();
    const call = fast()(`${server.url}/script/abort-flight`, { method: "POST", signal: controller.signal });
    await until(() => server.arrivals("/script/abort-flight").length === 1, "the attempt to arrive");
    const reason = new Error("user navigated away");
    controller.abort(reason);
    expect(await rejection(call)).toBe(reason);
    await until(() => server.closed("abort-flight") === 1, "the server to see the connection closed");
    expect(server.arrivals("/script/abort-flight")).toHaveLength(1);
  });

  it("the caller's AbortSignal.timeout() ends the call; it is not an attempt timeout to retry", async () => {
    server.script("caller-timeout", "hang", "hang", "hang");
    const error = await rejection(
      fast()(`${server.url}/script/caller-timeout`, { method: "POST", signal: AbortSignal.timeout(150) }),
    );
    expect((error as Error).name).toBe("TimeoutError");
    expect(server.arrivals("/script/caller-timeout")).toHaveLength(1);
  });

  it("rejects at once when the signal is already aborted, sending nothing", async () => {
    const error = await rejection(
      fast()(`${server.url}/script/pre-aborted`, { method: "POST", signal: AbortSignal.abort() }),
    );
    expect((error as Error).name).toBe("AbortError");
    expect(server.arrivals("/script/pre-aborted")).toHaveLength(0);
  });
});

describe("which requests are retried", () => {
  it("a POST sent without a key (idempotencyKey: false) is never retried", async () => {
    const before = server.effects("charges");
    const seen = server.arrivals("/charges").length;
    server.dropAnswers(1);
    const error = await rejection(fast()(`${server.url}/charges`, { ...json({}), idempotencyKey: false }));
    expect(error).toBeInstanceOf(TypeError);
    expect(
      server
        .arrivals("/charges")
        .slice(seen)
        .map((arrival) => arrival.key),
    ).toEqual([undefined]);
    expect(server.effects("charges")).toBe(before + 1);

    server.script("no-key-503", { status: 503 });
    const response = await fast()(`${server.url}/script/no-key-503`, { method: "POST", idempotencyKey: false });
    expect(response.status).toBe(503);
    expect(server.arrivals("/script/no-key-503")).toHaveLength(1);
  });

  it("a method outside `methods` gets no key and is not retried", async () => {
    server.script("patch-no-key", "drop");
    const error = await rejection(
      fast({ methods: ["POST"] })(`${server.url}/script/patch-no-key`, { method: "PATCH" }),
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(server.arrivals("/script/patch-no-key")).toHaveLength(1);
  });

  for (const method of ["GET", "PUT", "DELETE"]) {
    it(`${method} is idempotent: retried without a key after a network error and a 503`, async () => {
      const name = `idempotent-${method}`;
      server.script(name, "drop", { status: 503 });
      const response = await fast()(`${server.url}/script/${name}`, { method });
      expect(response.status).toBe(200);
      expect(idempotencyInfo(response)).toEqual({ idempotencyKey: undefined, replayed: false, attempts: 3 });
      expect(server.arrivals(`/script/${name}`).map((arrival) => arrival.key)).toEqual([
        undefined,
        undefined,
        undefined,
      ]);
    });
  }

  it("a GET 409 is final: only a keyed request can be in flight", async () => {
    server.script("get-409", { status: 409, headers: { "retry-after": "1" } });
    const response = await fast()(`${server.url}/script/get-409`);
    expect(response.status).toBe(409);
    expect(server.arrivals("/script/get-409")).toHaveLength(1);
  });

  it("uses the caller's key, from the option or from the header, on every attempt", async () => {
    server.script("own-key", "drop");
    await fast()(`${server.url}/script/own-key`, { method: "POST", idempotencyKey: "order-17" });
    server.script("own-header", "drop");
    await fast()(`${server.url}/script/own-header`, { method: "POST", headers: { "Idempotency-Key": "order-18" } });
    expect(server.arrivals("/script/own-key").map((arrival) => arrival.key)).toEqual(["order-17", "order-17"]);
    expect(server.arrivals("/script/own-header").map((arrival) => arrival.key)).toEqual(["order-18", "order-18"]);
  });

  it("sends the key under the configured header name, and each call gets its own key", async () => {
    const client = fast({ header: "X-Request-Key", generateKey: counter() });
    await client(`${server.url}/script/header-name`, { method: "POST" });
    const second = await client(`${server.url}/script/header-name`, { method: "POST" });
    expect(idempotencyInfo(second)?.idempotencyKey).toBe("key-2");
    const arrivals = server.arrivals("/script/header-name");
    expect(arrivals.map((arrival) => arrival.headers["x-request-key"])).toEqual(["key-1", "key-2"]);
    expect(arrivals.map((arrival) => arrival.key)).toEqual([undefined, undefined]);
  });

  it("an error thrown by onRetry ends the call with it", async () => {
    server.script("on-retry-throws", { status: 503 });
    const stop = new Error("stop");
    const error = await rejection(
      fast({
        onRetry: () => {
          throw stop;
        },
      })(`${server.url}/script/on-retry-throws`, { method: "POST" }),
    );
    expect(error).toBe(stop);
    expect(server.arrivals("/script/on-retry-throws")).toHaveLength(1);
  });

  it("idempotentFetch works with the defaults", async () => {
    const response = await idempotentFetch(`${server.url}/charges`, json({ default: true }));
    expect(response.status).toBe(201);
    expect(idempotencyInfo(response)).toMatchObject({ replayed: false, attempts: 1 });
    expect(idempotencyInfo(response)?.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
  });
});

function formData(): FormData {
  const form = new FormData();
  form.set("item", "book");
  form.set("file", new Blob(["file body"], { type: "text/plain" }), "note.txt");
  return form;
}

function counter(): () => string {
  let n = 0;
  return () => `key-${++n}`;
}
