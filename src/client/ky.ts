/**
 * `oncely/client`'s key and retry policy as ky options.
 *
 * @module oncely/client/ky
 */
import ky, { isForceRetryError, isHTTPError, isTimeoutError, type KyInstance, type Options } from "ky";
import { AttemptTimeoutError, isOncelyClientError, OncelyClientError, RetryDeadlineError } from "./errors.js";
import { recordInfo } from "./info.js";
import { createKeyResolver } from "./key-resolver.js";
import { type CallOptions, checkFetch, type RetryOptions, resolveRetryOptions, withCallOverrides } from "./options.js";
import type { AttemptOutcome } from "./policy.js";
import { fetchResponseFacts } from "./problem.js";
import { type RetryCall, retryCall } from "./retry-call.js";
import { sleep } from "./signals.js";

export { type IdempotencyInfo, idempotencyInfo } from "./info.js";

export interface KyIdempotencyOptions extends RetryOptions<Response> {
  /**
   * The fetch each attempt goes through. Pass it here rather than as ky's own `fetch` option: oncely installs its
   * own `fetch` to time attempts and keep the deadline.
   * @default globalThis.fetch
   */
  fetch?: (input: Request, init: RequestInit) => Promise<Response>;
}

/** What a call passes in ky's `context`: `ky.post(url, { context: { idempotency: { intent: "checkout" } } })`. */
export interface KyIdempotencyContext {
  /** This call's key, intent and limits. */
  idempotency?: CallOptions;
}

/** Marks the retries oncely forces from `afterResponse`, so its `beforeRetry` knows the wait already happened. */
const FORCED = "ONCELY_RETRY";
/** Every method ky knows: ky asks `shouldRetry` only for listed methods, and oncely's policy decides per call. */
const ALL_METHODS = ["get", "post", "put", "patch", "head", "delete", "options", "trace"];

/**
 * ky options (hooks, `retry`, `timeout`, `fetch`) that give ky oncely's behaviour: one Idempotency-Key per call, set
 * once in `beforeRequest` and kept on every retry (ky retries clones of the same request, so the header and the
 * body's bytes carry over); the same retry policy as `createClient`, with backoff, `Retry-After`, a total deadline,
 * per-attempt timeouts and typed errors. Spread into `ky.create`/`ky.extend`, or use `withIdempotency`.
 *
 * What ky does its own way: a final non-2xx response rejects with ky's `HTTPError` (as any ky call does, unless
 * `throwHttpErrors: false`); pass per-call options in `context.idempotency`. Do not set ky's `retry` (oncely owns
 * the retry decisions), and prefer oncely's `timeout` and `fetch` options to ky's: a per-call ky `fetch` replaces
 * the one that keeps the deadline during an attempt (the deadline is then kept between attempts only).
 *
 * @example
 * import ky from "ky";
 * import { idempotencyOptions } from "oncely/client/ky";
 * const api = ky.create({ prefixUrl: "https://api.example.com", ...idempotencyOptions({ retries: 5 }) });
 * await api.post("charges", { json: { amount: 1000 }, context: { idempotency: { intent: `charge:${id}` } } });
 */
export function idempotencyOptions(options: KyIdempotencyOptions = {}): Options {
  return kyOptions(options, ky);
}

/**
 * Extends a ky instance with `idempotencyOptions(options)`, forcing retries through that instance's own `ky.retry`
 * (so it works even where two copies of ky are installed).
 *
 * @example
 * import ky from "ky";
 * import { withIdempotency } from "oncely/client/ky";
 * const api = withIdempotency(ky.create({ prefixUrl: "https://api.example.com" }));
 * const charge = await api.post("charges", { json: { amount: 1000 } }).json();
 */
export function withIdempotency(instance: KyInstance, options: KyIdempotencyOptions = {}): KyInstance {
  return instance.extend(kyOptions(options, instance));
}

function kyOptions(options: KyIdempotencyOptions, owner: Pick<KyInstance, "retry">): Options {
  if (typeof owner.retry !== "function") {
    throw new TypeError("oncely/client/ky needs ky 1.14 or newer (ky.retry); install a newer ky");
  }
  const settings = resolveRetryOptions(options);
  const send = checkFetch(options.fetch);
  const resolveKey = createKeyResolver(settings);
  // ky gives every call a fresh `context` object and hands the same one to all its hooks: the call's state hangs
  // off it. The Request of each attempt maps to the same state, for the fetch below.
  const calls = new WeakMap<object, RetryCall<Response>>();
  const attempts = new WeakMap<Request, RetryCall<Response>>();

  /** Runs one attempt, aborting it at its timeout or at the call's deadline, whichever comes first. */
  async function fetchAttempt(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const request = input instanceof Request ? input : new Request(input, init);
    const call = attempts.get(request);
    if (!call) return send(request, init ?? {});
    const attempt = call.attemptSignal(request.signal);
    try {
      const response = await send(request, { ...init, signal: attempt.signal });
      attempt.settle(true);
      return response;
    } catch (error) {
      attempt.settle(false);
      const { aborted, reason } = attempt.signal;
      // Our timeout or the deadline (the caller's abort is ky's to report).
      throw aborted && reason instanceof OncelyClientError ? reason : error;
    }
  }

  return {
    timeout: false,
    fetch: fetchAttempt,
    retry: {
      limit: Number.MAX_SAFE_INTEGER,
      methods: ALL_METHODS,
      shouldRetry({ error }) {
        // Responses were judged in afterResponse: an HTTPError here is a final answer, an oncely error a refusal.
        if (error instanceof RetryDeadlineError) throw error;
        if (isAttemptTimeout(error)) return true;
        if (isOncelyClientError(error) || isHTTPError(error)) return false;
        return error instanceof TypeError;
      },
      delay: () => 0,
    },
    hooks: {
      beforeRequest: [
        async function attachIdempotencyKey(request, normalized) {
          const context = normalized.context;
          let call = calls.get(context);
          if (!call) {
            const method = request.method.toUpperCase();
            const own = (context as KyIdempotencyContext).idempotency;
            const key = await resolveKey(method, request.headers.get(settings.header), own);
            if (key !== undefined) request.headers.set(settings.header, key);
            call = retryCall(withCallOverrides(settings, own), method, key, own?.intent);
            calls.set(context, call);
          }
          call.beginAttempt();
          attempts.set(request, call);
        },
      ],
      afterResponse: [
        async function judgeResponse(_request, normalized, response) {
          const call = calls.get(normalized.context);
          if (!call) return;
          const outcome: AttemptOutcome = { response: await fetchResponseFacts(response) };
          const delay = await call.next(outcome, response);
          if (delay !== undefined) return owner.retry({ delay, code: FORCED });
          recordInfo(response, call.info(outcome));
          return response;
        },
      ],
      beforeRetry: [
        async function judgeError({ options: normalized, error }) {
          if (isForceRetryError(error) && error.code === FORCED) return;
          const call = calls.get(normalized.context);
          if (!call) return;
          // Throws unless the error is worth another attempt: errors are never the call's answer.
          const delay = (await call.next({ error })) as number;
          // After a timeout of ky's own, its internal signal (part of this one) is already aborted; the caller's
          // abort then still stops the next attempt before it is sent.
          const signal = normalized.signal?.aborted ? undefined : (normalized.signal ?? undefined);
          await sleep(delay, signal);
        },
      ],
    },
  };
}

/**
 * An attempt that ran out of time: oncely's timer, or ky's own `timeout` (a ky `TimeoutError`, which carries the
 * request). A `DOMException` named "TimeoutError" is the caller's `AbortSignal.timeout()` ending the whole call.
 */
function isAttemptTimeout(error: unknown): boolean {
  return error instanceof AttemptTimeoutError || (isTimeoutError(error) && "request" in (error as object));
}
