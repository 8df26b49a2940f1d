import { afterEach, describe, expect, it, vi } from "vitest";
import {
  backoffDelay,
  createClient,
  IdempotencyRequestError,
  IN_FLIGHT_PROBLEM,
  idempotencyInfo,
  isOncelyClientError,
  ONCELY_PROBLEM_PREFIX,
  parseRetryAfter,
  RetryDeadlineError,
  randomKey,
} from "../../src/client/index.js";
import { type AttemptOutcome, judge } from "../../src/client/policy.js";
import { problemDetails } from "../../src/client/problem.js";
import { FingerprintMismatchError, InFlightError, InvalidKeyError, MissingKeyError } from "../../src/index.js";

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("the client's copy of the server's problem types", () => {
  it("matches the engine's errors", () => {
    expect(new InFlightError("").type).toBe(IN_FLIGHT_PROBLEM);
    for (const error of [new FingerprintMismatchError(""), new InvalidKeyError(""), new MissingKeyError("")]) {
      expect(error.type.startsWith(ONCELY_PROBLEM_PREFIX)).toBe(true);
    }
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-11-23T10:00:00Z");
  it.each([
    ["2", 2000],
    ["0", 0],
    ["1.5", 1500],
    [" 3 ", 3000],
  ])("reads delta-seconds %j as %d ms", (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });

  it.each([[null], [undefined], [""], ["-1"], ["soon"], ["1e3"]])("gives no advice for %j", (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });

  it("reads an HTTP-date, measured from now, and a past date as 0", () => {
    expect(parseRetryAfter("Mon, 23 Nov 2026 10:00:05 GMT", now)).toBe(5000);
    expect(parseRetryAfter("Mon, 23 Nov 2026 09:59:00 GMT", now)).toBe(0);
  });

  it("measures a date from the response's Date when the local clock runs ahead, so the wait is never short", () => {
    const sent = "Mon, 23 Nov 2026 09:59:50 GMT"; // the server's clock is 10 s behind ours
    expect(parseRetryAfter("Mon, 23 Nov 2026 09:59:55 GMT", now, sent)).toBe(5000);
    // When the local clock is behind the server's, local now is the earlier reference: the wait only gets longer.
    expect(parseRetryAfter("Mon, 23 Nov 2026 10:00:15 GMT", now, "Mon, 23 Nov 2026 10:00:10 GMT")).toBe(15000);
  });
});

describe("backoffDelay (full jitter)", () => {
  const backoff = { base: 100, cap: 1000 };
  it("draws from [0, min(cap, base * 2^(retry-1)))", () => {
    expect(backoffDelay(1, backoff, 0)).toBe(0);
    expect(backoffDelay(1, backoff, 0.999)).toBe(99);
    expect(backoffDelay(3, backoff, 0.5)).toBe(200);
    expect(backoffDelay(10, backoff, 0.999)).toBe(999);
  });

  it("spreads real draws across the window", () => {
    const draws = Array.from({ length: 200 }, () => backoffDelay(4, backoff));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(800);
    expect(new Set(draws).size).toBeGreaterThan(20);
  });
});

describe("judge", () => {
  const response = (status: number, headers: Record<string, string> = {}, body?: unknown): AttemptOutcome => ({
    response: { status, header: (name) => headers[name] ?? null, problem: body ? problemDetails(body) : undefined },
  });
  const network: AttemptOutcome = { error: new TypeError("fetch failed") };
  const timeout: AttemptOutcome = { error: new Error("timeout") };
  const inFlight = { type: IN_FLIGHT_PROBLEM };

  it.each([
    ["network error, keyed POST", network, "POST", true, "retry"],
    ["timeout, keyed POST", timeout, "POST", true, "retry"],
    ["network error, POST without key", network, "POST", false, "not-retryable"],
    ["network error, GET", network, "GET", false, "retry"],
    ["network error, PUT", network, "PUT", false, "retry"],
    ["network error, DELETE", network, "DELETE", false, "retry"],
    ["408", response(408), "POST", true, "retry"],
    ["429", response(429), "POST", true, "retry"],
    ["500", response(500), "POST", true, "retry"],
    ["502", response(502), "POST", true, "retry"],
    ["503", response(503), "POST", true, "retry"],
    ["504", response(504), "POST", true, "retry"],
    ["599", response(599), "POST", true, "retry"],
    ["501", response(501), "POST", true, "final"],
    ["505", response(505), "POST", true, "final"],
    ["503, POST without key", response(503), "POST", false, "final"],
    ["503, GET without key", response(503), "GET", false, "retry"],
    ["409 oncely in-flight", response(409, {}, inFlight), "POST", true, "retry"],
    ["409 Stripe key in use", response(409, {}, { error: { code: "idempotency_key_in_use" } }), "POST", true, "retry"],
    ["409 with Retry-After", response(409, { "retry-after": "1" }), "POST", true, "retry"],
    ["409 plain", response(409, {}, { type: "https://example.com/conflict" }), "POST", true, "final"],
    ["409 in-flight, but no key was sent", response(409, { "retry-after": "1" }, inFlight), "PUT", false, "final"],
    ["409 replayed", response(409, { "retry-after": "1", "idempotent-replayed": "true" }), "POST", true, "final"],
    ["503 replayed (?1)", response(503, { "idempotent-replayed": "?1" }), "POST", true, "final"],
    ["200", response(200), "POST", true, "final"],
    ["201", response(201), "POST", true, "final"],
    ["404", response(404), "POST", true, "final"],
    [
      "410 response not kept",
      response(410, {}, { type: "urn:oncely:problem:response-not-kept" }),
      "POST",
      true,
      "final",
    ],
    ["413", response(413), "POST", true, "final"],
    ["422 oncely", response(422, {}, { type: "urn:oncely:problem:fingerprint-mismatch" }), "POST", true, "rejected"],
    ["400 oncely", response(400, {}, { type: "urn:oncely:problem:invalid-key" }), "POST", true, "rejected"],
    ["400 Stripe", response(400, {}, { error: { type: "idempotency_error" } }), "POST", true, "rejected"],
    [
      "422 draft-style",
      response(422, {}, { type: "https://x.example/idempotency-key-reused" }),
      "POST",
      true,
      "rejected",
    ],
    [
      "400 missing key, POST without key",
      response(400, {}, { type: "urn:oncely:problem:missing-key" }),
      "POST",
      false,
      "rejected",
    ],
    ["422 validation", response(422, {}, { type: "https://x.example/amount" }), "POST", true, "final"],
    ["400 with no body", response(400), "POST", true, "final"],
  ] as const)("%s → %s", (_name, outcome, method, keyed, verdict) => {
    expect(judge(outcome, method, keyed).verdict).toBe(verdict);
  });

  it("reads Retry-After on retryable answers", () => {
    expect(judge(response(503, { "retry-after": "2" }), "POST", true)).toEqual({ verdict: "retry", retryAfter: 2000 });
    expect(judge(response(429), "POST", true)).toEqual({ verdict: "retry", retryAfter: undefined });
  });
});

describe("randomKey", () => {
  const v4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it("is crypto.randomUUID where it exists", () => {
    vi.stubGlobal("crypto", { randomUUID: () => "from-random-uuid" });
    expect(randomKey()).toBe("from-random-uuid");
  });

  it("falls back to a v4 UUID from getRandomValues (pages served over plain HTTP)", () => {
    const real = globalThis.crypto;
    const getRandomValues = <T extends ArrayBufferView>(array: T) => real.getRandomValues(array as never) as T;
    vi.stubGlobal("crypto", { getRandomValues });
    const keys = new Set(Array.from({ length: 50 }, () => randomKey()));
    expect(keys.size).toBe(50);
    for (const key of keys) expect(key).toMatch(v4);
  });

  it("throws, naming generateKey, where there is no secure random source (React Native without a polyfill)", () => {
    vi.stubGlobal("crypto", undefined);
    expect(() => randomKey()).toThrow(/generateKey/);
  });

  it("the client uses generateKey instead, and creating a client needs no crypto", async () => {
    vi.stubGlobal("crypto", undefined);
    const fetch = vi.fn(async (_url: string, init: RequestInit) => {
      return new Response(new Headers(init.headers).get("idempotency-key"));
    });
    const client = createClient({ fetch, generateKey: () => "rn-key" });
    const response = await client("http://127.0.0.1:1/x", { method: "POST" });
    expect(await response.text()).toBe("rn-key");
  });
});

describe("createClient options", () => {
  it.each([
    [{ retries: -1 }, /retries/],
    [{ retries: 1.5 }, /retries/],
    [{ backoff: { base: 1000, cap: 10 } }, /backoff\.cap/],
    [{ backoff: { base: "fast" } }, /backoff\.base/],
    [{ deadline: "soon" }, /deadline/],
    [{ timeout: -5 }, /timeout/],
    [{ header: "Idempotency Key" }, /header/],
    [{ methods: "POST" }, /methods/],
    [{ keyStore: {} }, /keyStore/],
    [{ onRetry: "log" }, /onRetry/],
    [{ fetch: "fetch" }, /fetch/],
    [{ maxBodyBytes: -1 }, /maxBodyBytes/],
  ])("refuses %j at setup, naming the option", (options, message) => {
    expect(() => createClient(options as never)).toThrow(message);
  });

  it("refuses a per-call override the same way", async () => {
    const client = createClient({ fetch: async () => new Response("") });
    await expect(client("http://127.0.0.1:1/x", { retries: -2 })).rejects.toThrow(/retries/);
  });

  it("checks the URL, method and headers before the first attempt (a TypeError then is never retried)", async () => {
    const fetch = vi.fn(async () => new Response(""));
    const client = createClient({ fetch });
    await expect(client("not a url", { method: "POST" })).rejects.toBeInstanceOf(TypeError);
    await expect(client("http://127.0.0.1:1/x", { method: "GET", body: "x" })).rejects.toBeInstanceOf(TypeError);
    await expect(client("http://127.0.0.1:1/x", { method: "POST", mode: "navigate" })).rejects.toBeInstanceOf(
      TypeError,
    );
    expect(fetch).not.toHaveBeenCalled();
  });

  it("sends each attempt through the injected fetch", async () => {
    let calls = 0;
    const fetch = async () => {
      calls += 1;
      if (calls === 1) throw new TypeError("network down");
      return new Response("ok");
    };
    const response = await createClient({ fetch, backoff: { base: 1, cap: 1 } })("http://127.0.0.1:1/x", {
      method: "POST",
    });
    expect(calls).toBe(2);
    expect(idempotencyInfo(response)?.attempts).toBe(2);
  });

  it("an error from a custom fetch that is not a network error is not retried", async () => {
    const bug = new RangeError("bug in my fetch");
    let calls = 0;
    const client = createClient({
      fetch: async () => {
        calls += 1;
        throw bug;
      },
    });
    await expect(client("http://127.0.0.1:1/x", { method: "POST" })).rejects.toBe(bug);
    expect(calls).toBe(1);
  });
});

describe("errors", () => {
  it("carry a stable code, the key and the attempts, and are recognised across realms", () => {
    const error = new RetryDeadlineError(500, { idempotencyKey: "k", attempts: 3, lastStatus: 503 });
    expect(error).toMatchObject({ name: "RetryDeadlineError", code: "retry_deadline_exceeded", attempts: 3 });
    expect(isOncelyClientError(error)).toBe(true);
    const foreign = Object.defineProperty({}, Symbol.for("oncely.client-error"), { value: true });
    expect(isOncelyClientError(foreign)).toBe(true);
    expect(isOncelyClientError(new Error("x"))).toBe(false);
    const refused = new IdempotencyRequestError(422, { detail: "reused", body: {} }, { attempts: 1 });
    expect(refused.message).toContain("422: reused");
  });
});
