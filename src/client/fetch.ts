import { replayableBody } from "./body.js";
import { RetryDeadlineError } from "./errors.js";
import { recordInfo } from "./info.js";
import { createKeyResolver } from "./key-resolver.js";
import {
  type CallOptions,
  checkBodyLimit,
  checkFetch,
  type RetryOptions,
  resolveRetryOptions,
  withCallOverrides,
} from "./options.js";
import type { AttemptOutcome } from "./policy.js";
import { fetchResponseFacts } from "./problem.js";
import { retryCall, type Step } from "./retry-call.js";
import { sleep } from "./signals.js";

/** A fetch implementation: the platform's, or one you inject (a mock, a fetch with a proxy agent). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface ClientOptions extends RetryOptions<Response> {
  /**
   * The fetch each attempt goes through, looked up on every call so polyfills installed later are used.
   * @default globalThis.fetch
   */
  fetch?: FetchLike;
  /**
   * A stream body (or a `Request`'s body) is read into memory once so every retry can send it again; longer ones
   * are refused with `BodyNotReplayableError` before anything is sent.
   * @default 1048576 (1 MiB, the server's default `maxRequestBytes`)
   */
  maxBodyBytes?: number;
}

/** `RequestInit` plus the per-call options (`idempotencyKey`, `intent`, `retries`, `deadline`, `timeout`). */
export interface IdempotentRequestInit extends RequestInit, CallOptions {}

/** A function with fetch's signature that retries safely. */
export type IdempotentFetch = (input: RequestInfo | URL, init?: IdempotentRequestInit) => Promise<Response>;

/**
 * Creates a fetch that makes retries safe: one Idempotency-Key per logical call, sent on every retry of it; retries
 * only what cannot run twice (network errors, timeouts, 408, 429, 5xx but 501/505, a 409 "still in progress"), with
 * capped, jittered backoff that honours `Retry-After`, inside a total deadline. It resolves like fetch, with any final
 * response; `idempotencyInfo(response)` says whether it was a replay, which key it used and how many attempts it took.
 *
 * @throws IdempotencyRequestError the server refused the key itself (400/422): retrying cannot help
 * @throws RetryDeadlineError the call's `deadline` passed
 * @throws RetriesExhaustedError every attempt failed without a response
 * @throws BodyNotReplayableError a stream body over `maxBodyBytes`
 * @example
 * const api = createClient({ retries: 5, deadline: "30s", keyStore: storageKeyStore(localStorage) });
 * const response = await api("https://api.example.com/charges", {
 *   method: "POST",
 *   headers: { "content-type": "application/json" },
 *   body: JSON.stringify({ amount: 1000 }),
 *   intent: `charge:${orderId}`,
 * });
 */
export function createClient(options: ClientOptions = {}): IdempotentFetch {
  const settings = resolveRetryOptions(options);
  const send = checkFetch(options.fetch);
  const maxBodyBytes = checkBodyLimit(options.maxBodyBytes);
  const resolveKey = createKeyResolver(settings);

  return async function idempotentFetch(input, init = {}) {
    const { idempotencyKey, intent, retries, deadline, timeout, ...fetchInit } = init;
    const callSettings = withCallOverrides(settings, { retries, deadline, timeout });
    const request = await prepareRequest(input, fetchInit, maxBodyBytes);
    const { headers, signal } = request;
    const method = request.method.toUpperCase();
    const resolved = await resolveKey({
      method,
      headerKey: headers.get(settings.header),
      call: { idempotencyKey, intent },
    });
    const { key } = resolved;
    if (key !== undefined) headers.set(settings.header, key);
    const call = retryCall(callSettings, method, key, resolved.intent);

    for (;;) {
      call.beginAttempt();
      const attempt = call.attemptSignal(signal);
      let response: Response | undefined;
      let outcome: AttemptOutcome;
      let step: Step;
      try {
        try {
          response = await send(request.url, { ...request.init, headers, signal: attempt.signal });
          outcome = { kind: "response", response: await fetchResponseFacts(response) };
        } catch (error) {
          attempt.settle(false);
          const { cause } = attempt;
          if (cause === "caller") throw signal?.reason ?? error;
          if (cause === "deadline") {
            const reason: unknown = attempt.signal.reason;
            throw reason instanceof RetryDeadlineError ? reason : call.deadlineError(error);
          }
          // fetch reports every network failure, and nothing else once the request is valid, as a TypeError.
          if (cause !== "timeout" && !(error instanceof TypeError)) throw error;
          if (response) cancel(response);
          response = undefined;
          outcome = cause ? { kind: "timeout", error: attempt.signal.reason } : { kind: "network", error };
        }
        step = await call.next(outcome, response);
      } catch (error) {
        attempt.settle(false);
        if (response) cancel(response);
        throw error;
      }
      // "return" is only ever the verdict on a response.
      if (step.action === "return" && response) {
        attempt.settle(true);
        recordInfo(response, call.info(outcome));
        return response;
      }
      attempt.settle(false);
      if (response) cancel(response);
      if (step.action === "throw") throw step.error;
      if (step.action !== "retry") throw (outcome as { error: unknown }).error;
      await sleep(step.delay, signal);
    }
  };
}

/**
 * An `idempotentFetch` with the defaults: 3 retries, backoff 500 ms to 10 s, 10 s per attempt, 60 s in all, keys for
 * POST and PATCH.
 *
 * @example
 * import { idempotentFetch, idempotencyInfo } from "oncely/client";
 * const response = await idempotentFetch("/api/orders", { method: "POST", body: JSON.stringify(order) });
 * idempotencyInfo(response)?.replayed; // true when the server answered from its record
 */
export const idempotentFetch: IdempotentFetch = (input, init) => {
  defaultClient ??= createClient();
  return defaultClient(input, init);
};
// Created on first use, so importing the module does no work and needs no crypto (React Native imports it too).
let defaultClient: IdempotentFetch | undefined;

interface PreparedRequest {
  url: string;
  method: string;
  headers: Headers;
  /** Everything fetch needs but `headers` and `signal`, with a body that can be sent again. */
  init: RequestInit;
  signal: AbortSignal | undefined;
}

const REQUEST_FIELDS = [
  "cache",
  "credentials",
  "integrity",
  "keepalive",
  "mode",
  "redirect",
  "referrerPolicy",
] as const;

/**
 * Resolves input and init to what every attempt sends. A `Request` is taken apart (its body read once), and the
 * URL, method and headers are checked here, so that a TypeError from fetch later can only mean a network failure.
 */
async function prepareRequest(input: RequestInfo | URL, init: RequestInit, limit: number): Promise<PreparedRequest> {
  const source = input instanceof Request ? input : undefined;
  const url = source ? source.url : String(input);
  const method = init.method ?? source?.method ?? "GET";
  const headers = new Headers(init.headers ?? source?.headers);
  // Throws fetch's own TypeError for a bad URL, method or header before the first attempt.
  const checked = new Request(url, { method, headers });
  const rest: RequestInit = {};
  if (source) for (const field of REQUEST_FIELDS) (rest as Record<string, unknown>)[field] = source[field];
  Object.assign(rest, init);
  const body = await replayableBody(init.body !== undefined ? init.body : source?.body, headers, limit);
  if (body !== undefined && (checked.method === "GET" || checked.method === "HEAD")) {
    throw new TypeError(`A ${checked.method} request cannot have a body`);
  }
  return {
    url: checked.url,
    method,
    headers,
    init: { ...rest, method, body: body ?? null },
    signal: init.signal ?? source?.signal ?? undefined,
  };
}

/** Frees a response the caller will never see (an unread body holds its connection). */
function cancel(response: Response): void {
  response.body?.cancel().catch(() => {});
}
