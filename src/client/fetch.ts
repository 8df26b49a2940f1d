import { replayableBody } from "./body.js";
import { AttemptTimeoutError } from "./errors.js";
import { idempotencyInfo, recordInfo } from "./info.js";
import { createKeyResolver } from "./key-resolver.js";
import {
  type CallOptions,
  checkBodyLimit,
  checkFetch,
  type RetryOptions,
  type RetrySettings,
  resolveRetryOptions,
  withCallOverrides,
} from "./options.js";
import type { AttemptOutcome } from "./policy.js";
import { fetchResponseFacts } from "./problem.js";
import { retryCall } from "./retry-call.js";
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
  /**
   * A streamed answer (a body without `Content-Length`: server-sent events, NDJSON) to a call with a key is returned
   * as a `Response` whose body resumes when its connection drops: the call is sent again with the same key (with
   * `Last-Event-ID` for server-sent events), and a server that recorded the stream (`stream: true` routes) answers
   * the rest. The body errors with a `StreamResumeError` when the retry was not answered from the same recorded
   * stream. `false` returns fetch's own response.
   * @default true
   */
  resumeStreams?: boolean;
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
  const resumeStreams = options.resumeStreams ?? true;

  return async function idempotentFetch(input, init = {}) {
    const callSettings = withCallOverrides(settings, init);
    const { url, method, headers, signal, fetchInit } = await prepareRequest(input, init, maxBodyBytes);
    const key = await resolveKey(method, headers.get(settings.header), init);
    if (key !== undefined) headers.set(settings.header, key);
    const attempt = (sent: Headers) =>
      attempts(send, callSettings, { url, method, key, intent: init.intent }, fetchInit, sent, signal);
    const answer = await attempt(headers);
    if (key === undefined || !resumeStreams || answer.body === null || answer.headers.has("content-length")) {
      return answer;
    }
    // A streamed answer is read through a body that resumes it when its connection drops: the same call, again.
    const sendAgain = (extra: Record<string, string>) => {
      const again = new Headers(headers);
      for (const [name, value] of Object.entries(extra)) again.set(name, value);
      return attempt(again);
    };
    // Loaded on the first streamed answer: most calls never get one.
    const { resumedBody } = await import("./resumed-stream.js");
    const body = resumedBody(answer, sendAgain, callSettings.retries, { idempotencyKey: key });
    const resumable = new Response(body, {
      status: answer.status,
      statusText: answer.statusText,
      headers: answer.headers,
    });
    recordInfo(resumable, idempotencyInfo(answer)!);
    return resumable;
  };
}

/** What every attempt of one call sends. */
interface CallTarget {
  url: string;
  method: string;
  key: string | undefined;
  intent: string | undefined;
}

/** Sends the call's attempts until one is its answer (see `retryCall`), and returns that answer. */
async function attempts(
  send: FetchLike,
  callSettings: RetrySettings<Response>,
  { url, method, key, intent }: CallTarget,
  fetchInit: RequestInit,
  headers: Headers,
  signal: AbortSignal | undefined,
): Promise<Response> {
  const call = retryCall(callSettings, method, key, intent);
  for (;;) {
    call.beginAttempt();
    const attempt = call.attemptSignal(signal);
    let response: Response | undefined;
    let answer: Response | undefined;
    let delay: number | undefined;
    try {
      let outcome: AttemptOutcome;
      try {
        response = await send(url, { ...fetchInit, headers, signal: attempt.signal });
        outcome = { response: await fetchResponseFacts(response) };
      } catch (error) {
        const { aborted, reason } = attempt.signal;
        // Worth another attempt: our own timeout, or a network failure (fetch reports every one, and nothing else
        // once the request is valid, as a TypeError). The caller's abort, the deadline and the rest end the call.
        if (aborted ? !(reason instanceof AttemptTimeoutError) : !(error instanceof TypeError)) {
          throw aborted ? reason : error;
        }
        outcome = { error: aborted ? reason : error };
      }
      // The attempt is over: its timers stop, so none can abort the body the caller may be about to read.
      attempt.settle(true);
      delay = await call.next(outcome, outcome.response && response);
      // `undefined` is only ever the verdict on a response: it is the call's answer.
      if (delay === undefined) {
        answer = response!;
        recordInfo(answer, call.info(outcome));
        return answer;
      }
    } finally {
      // Anything but the answer: unlink the caller's signal, and free the connection an unread body holds.
      if (!answer) {
        attempt.settle(false);
        response?.body?.cancel().catch(() => {});
      }
    }
    await sleep(delay, signal);
  }
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

/** Everything fetch needs from a `Request` given as input, but its URL, method, headers, body and signal. */
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
 * Resolves input and init to what every attempt sends: `fetchInit` (with a body that can be sent again) plus
 * `headers` and a signal of its own. A `Request` is taken apart (its body read once), and the URL, method, headers
 * and body are checked here, so that a TypeError from fetch later can only mean a network failure.
 */
async function prepareRequest(input: RequestInfo | URL, callInit: IdempotentRequestInit, limit: number) {
  const { idempotencyKey, intent, retries, deadline, timeout, ...init } = callInit;
  const source = input instanceof Request ? input : undefined;
  const fetchInit: RequestInit = {};
  if (source) for (const field of REQUEST_FIELDS) (fetchInit as Record<string, unknown>)[field] = source[field];
  Object.assign(fetchInit, init);
  fetchInit.method ??= source?.method ?? "GET";
  const method = fetchInit.method.toUpperCase();
  const headers = new Headers(init.headers ?? source?.headers);
  fetchInit.body = (await replayableBody(init.body !== undefined ? init.body : source?.body, headers, limit)) ?? null;
  // fetch builds this same Request from its arguments: doing it here throws fetch's own TypeError for a bad URL,
  // method, header or mode, or a GET or HEAD with a body, before the first attempt.
  const { url } = new Request(source?.url ?? String(input), { ...fetchInit, headers });
  return { url, method, headers, signal: init.signal ?? source?.signal ?? undefined, fetchInit };
}
