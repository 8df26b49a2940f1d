import { expect, it } from "vitest";
import {
  type IdempotencyInfo,
  IdempotencyRequestError,
  RetriesExhaustedError,
  RetryDeadlineError,
  type RetryInfo,
  type RetryOptions,
} from "../../src/client/index.js";
import { until } from "../support/until.js";
import type { TestServer } from "./server.js";

/** What a wrapped client resolved with, in one shape whatever the library's own. */
export interface DriverResponse {
  status: number;
  header(name: string): string | null | undefined;
  body(): Promise<unknown>;
  info: IdempotencyInfo | undefined;
}

/** The retry options the scenarios set, with the response seen only for its status. */
export type ScenarioOptions = RetryOptions<{ status: number }>;

/** One call: the retry options of the wrapped client, and the key to send (`false`: none). */
export interface Call {
  options?: ScenarioOptions;
  key?: string | false;
  headers?: Record<string, string>;
  /** Called as each attempt goes out, from the library's own hook (an interceptor, its fetch). */
  onAttempt?: () => void;
}

/** How the scenarios drive one client library wrapped by oncely (`oncely/client/axios`, `oncely/client/ky`). */
export interface ClientDriver {
  name: string;
  /** POSTs `body` as JSON (or nothing when undefined) to the server's `path` (no leading slash). */
  post(path: string, body: unknown, call?: Call): Promise<DriverResponse>;
  get(path: string, call?: Call): Promise<DriverResponse>;
  /** The status of the library's own error for an HTTP status it treats as a failure, or undefined. */
  httpErrorStatus(error: unknown): number | undefined;
  /** Whether `error` is the library's own error for a connection that failed. */
  isNetworkError(error: unknown): boolean;
  /** Whether `error` says an attempt ran past `timeout` (the library's own error where it times attempts itself). */
  isAttemptTimeout(error: unknown): boolean;
}

export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to reject");
}

/** Small waits so the suite stays fast; the policy is the same at any scale. */
export const fastBackoff: ScenarioOptions = { backoff: { base: 5, cap: 20 } };

/**
 * The retry scenarios every wrapped client must pass against a real oncely server, each written once: what a wrapper
 * adds is only how its library sends a call and reports what came back.
 */
export function clientScenarios(server: () => TestServer, client: ClientDriver): void {
  const script = (name: string) => `script/${client.name}-${name}`;
  const arrivals = (path: string) => server().arrivals(`/${path}`);

  it("effect done, answer lost: one effect, the stored answer, replayed, one key on both attempts", async () => {
    const before = server().effects("charges");
    const seen = arrivals("charges").length;
    const retries: RetryInfo<{ status: number }>[] = [];
    server().dropAnswers(1);

    const response = await client.post(
      "charges",
      { amount: 500 },
      { options: { onRetry: (r) => void retries.push(r) } },
    );

    expect(response.status).toBe(201);
    expect(response.header("idempotent-replayed")).toBe("true");
    expect(await response.body()).toEqual({ charge: before + 1, body: '{"amount":500}' });
    expect(server().effects("charges")).toBe(before + 1);
    const keys = arrivals("charges")
      .slice(seen)
      .map((arrival) => arrival.key);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(response.info).toEqual({ idempotencyKey: keys[0], replayed: true, attempts: 2 });
    expect(retries).toHaveLength(1);
    expect(client.isNetworkError(retries[0]!.error)).toBe(true);
  });

  it("409 in flight, then the first request's answer", async () => {
    const slow = server().holdSlow();
    const key = `${client.name}-in-flight-${Date.now()}`;
    const first = fetch(`${server().url}/slow`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify({ n: 1 }),
    });
    await until(() => server().effects("slow") >= 1 && arrivals("slow").length >= 1, "the first request");
    const before = server().effects("slow");
    const retries: RetryInfo<{ status: number }>[] = [];

    const onRetry = (info: RetryInfo<{ status: number }>) => {
      retries.push(info);
      slow.open();
    };
    const response = await client.post("slow", { n: 1 }, { key, options: { onRetry } });

    expect(response.status).toBe(201);
    expect(response.info).toEqual({ idempotencyKey: key, replayed: true, attempts: 2 });
    expect(retries[0]!.response?.status).toBe(409);
    expect(retries[0]!.delay).toBeGreaterThanOrEqual(1000);
    expect(server().effects("slow")).toBe(before);
    expect((await first).status).toBe(201);
  });

  it("422 (the key reused with another body) stops at once with IdempotencyRequestError", async () => {
    const key = `${client.name}-reused-${Date.now()}`;
    await client.post("charges", { a: 1 }, { key });
    const seen = arrivals("charges").length;
    const error = await rejection(client.post("charges", { a: 2 }, { key }));
    expect(error).toBeInstanceOf(IdempotencyRequestError);
    expect(error).toMatchObject({ status: 422, attempts: 1, idempotencyKey: key });
    expect((error as IdempotencyRequestError).problem.type).toBe("urn:oncely:problem:fingerprint-mismatch");
    expect(arrivals("charges").length).toBe(seen + 1);
  });

  it("400 (a malformed key, a missing required one) stops at once with IdempotencyRequestError", async () => {
    const seen = arrivals("charges").length;
    const malformed = await rejection(client.post("charges", {}, { key: "k".repeat(300) }));
    expect(malformed).toMatchObject({ status: 400, attempts: 1 });
    expect((malformed as IdempotencyRequestError).problem.type).toBe("urn:oncely:problem:invalid-key");
    expect(arrivals("charges").length).toBe(seen + 1);

    const missing = await rejection(client.post("required", {}, { key: false }));
    expect(missing).toMatchObject({ status: 400, attempts: 1 });
    expect((missing as IdempotencyRequestError).problem.type).toBe("urn:oncely:problem:missing-key");
  });

  it("honours Retry-After, with the same key", async () => {
    server().script(`${client.name}-after`, { status: 503, headers: { "retry-after": "1" } });
    const response = await client.post(script("after"), undefined);
    expect(response.status).toBe(200);
    const [first, second] = arrivals(script("after"));
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1000);
    expect(second!.key).toBe(first!.key);
  });

  it("ends with the library's own error once a retryable status has used up the retries", async () => {
    server().script(`${client.name}-spent`, { status: 503 }, { status: 503 });
    const error = await rejection(client.post(script("spent"), undefined, { options: { retries: 1 } }));
    expect(client.httpErrorStatus(error)).toBe(503);
    expect(arrivals(script("spent"))).toHaveLength(2);
  });

  it("throws RetriesExhaustedError, with the library's error as cause, when no attempt got a response", async () => {
    server().script(`${client.name}-drops`, "drop", "drop");
    const error = await rejection(client.post(script("drops"), undefined, { options: { retries: 1 } }));
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect(error).toMatchObject({ attempts: 2 });
    expect(client.isNetworkError((error as Error).cause)).toBe(true);
  });

  it("keeps the deadline, aborting an attempt still running at it", async () => {
    server().script(`${client.name}-hang`, "hang");
    const error = await rejection(client.post(script("hang"), undefined, { options: { deadline: 200 } }));
    expect(error).toBeInstanceOf(RetryDeadlineError);
    expect(error).toMatchObject({ attempts: 1 });
    await until(() => server().closed(`${client.name}-hang`) === 1, "the server to see the connection closed");
  });

  it("keeps the deadline across waits: no attempt starts after it", async () => {
    server().script(`${client.name}-503s`, ...Array.from({ length: 100 }, () => ({ status: 503 })));
    const starts: number[] = [];
    const options = { deadline: 250, retries: 1000, backoff: { base: 20, cap: 40 } };
    const onAttempt = () => void starts.push(performance.now());
    const error = await rejection(client.post(script("503s"), undefined, { options, onAttempt }));
    expect(error).toBeInstanceOf(RetryDeadlineError);
    expect(error).toMatchObject({ lastStatus: 503 });
    expect(starts.length).toBeGreaterThan(1);
    expect((error as RetryDeadlineError).attempts).toBe(starts.length);
    // The client's clock starts just before its first attempt, so times from that attempt never overstate it.
    for (const start of starts) expect(start - starts[0]!).toBeLessThan(250);
    // An attempt that never comes cannot be awaited: give a late one time to arrive before counting.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(arrivals(script("503s"))).toHaveLength(starts.length);
  });

  it("retries an attempt that timed out", async () => {
    const retries: RetryInfo<{ status: number }>[] = [];
    server().script(`${client.name}-slow-once`, "hang");
    const options = { timeout: 400, onRetry: (info: RetryInfo<{ status: number }>) => void retries.push(info) };
    const response = await client.post(script("slow-once"), undefined, { options });
    expect(response.status).toBe(200);
    expect(response.info?.attempts).toBe(2);
    expect(client.isAttemptTimeout(retries[0]!.error)).toBe(true);
  });

  it("retries a GET without a key; never retries a POST sent without one", async () => {
    server().script(`${client.name}-get`, "drop", { status: 503 });
    const response = await client.get(script("get"));
    expect(response.status).toBe(200);
    expect(arrivals(script("get")).map((arrival) => arrival.key)).toEqual([undefined, undefined, undefined]);

    server().script(`${client.name}-no-key`, "drop");
    const error = await rejection(client.post(script("no-key"), undefined, { key: false }));
    expect(client.isNetworkError(error)).toBe(true);
    expect(arrivals(script("no-key"))).toHaveLength(1);
  });

  it("each call gets its own key; a key set in the headers is kept", async () => {
    await client.post(script("keys"), undefined);
    await client.post(script("keys"), undefined);
    await client.post(script("keys"), undefined, { headers: { "Idempotency-Key": "mine" } });
    const keys = arrivals(script("keys")).map((arrival) => arrival.key);
    expect(new Set(keys).size).toBe(3);
    expect(keys[2]).toBe("mine");
  });
}
