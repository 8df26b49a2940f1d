const BRAND = Symbol.for("oncely.error");

/** Context carried by every oncely error, so logs and problem+json answers can say what was refused. */
export interface OncelyErrorContext {
  /** The request's Idempotency-Key, when it had a valid one. */
  key?: string;
  /** The route the request was guarded on (its name or template). */
  route?: string;
  /** Seconds a client should wait before retrying, when retrying can help. */
  retryAfter?: number;
  /** The underlying error (a store failure, say). */
  cause?: unknown;
}

/**
 * Base class of every error oncely throws. `code` is stable across releases; `status` is the HTTP status the
 * adapters answer with; `type` is the RFC 9457 problem type URI.
 */
export class OncelyError extends Error {
  /**
   * The class name, a literal per subclass (`"InFlightError"`, `"StoreTimeoutError"`, ...), so logs and stack traces
   * say which error it is.
   */
  override readonly name: string = "OncelyError";
  /** Stable machine-readable code, one per class (`in_flight`, `fingerprint_mismatch`, ...): match on it. */
  readonly code: string = "oncely_error";
  /** The HTTP status adapters answer with. */
  readonly status: number = 500;
  /** The problem+json `title`: a short summary that is the same for every error of this kind. */
  readonly title: string = "Idempotency error";
  /** The request's Idempotency-Key, when it had a valid one. */
  readonly key?: string;
  /** The route the request was guarded on. */
  readonly route?: string;
  /** Seconds a client should wait before retrying (sent as `Retry-After`), when retrying can help. */
  readonly retryAfter?: number;

  constructor(message: string, context: OncelyErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.key = context.key;
    this.route = context.route;
    this.retryAfter = context.retryAfter;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** The problem type URI; one per `code`, documented in docs/operations.md ("Errors"). */
  get type(): string {
    return `urn:oncely:problem:${this.code.replaceAll("_", "-")}`;
  }

  /**
   * The problem+json `detail` a client reads. For errors about the request itself (a bad key, a reused key) it is the
   * message, which oncely writes from what the client sent; errors whose cause lives on the server (a store, a
   * driver, a function of the app) give a fixed sentence instead, so no host, port, driver message or stack reaches
   * a client. The `message` keeps the cause for the server's log.
   */
  get detail(): string {
    return this.message;
  }
}

/** True for any oncely error, across realms and duplicate installs (checks a global symbol, not `instanceof`). */
export function isOncelyError(value: unknown): value is OncelyError {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** Whole seconds as `Retry-After` rounds them, in words: "1 second", "3 seconds". */
function secondsText(seconds: number): string {
  const whole = Math.max(1, Math.ceil(seconds));
  return whole === 1 ? "1 second" : `${whole} seconds`;
}

/** Thrown when a guarded route requires an `Idempotency-Key` and the request has none. */
export class MissingKeyError extends OncelyError {
  override readonly name = "MissingKeyError";
  override readonly code = "missing_key";
  override readonly status = 400;
  override readonly title = "Idempotency-Key required";
}

/** Thrown when the `Idempotency-Key` header is empty, too long, has characters outside visible ASCII, or repeats. */
export class InvalidKeyError extends OncelyError {
  override readonly name = "InvalidKeyError";
  override readonly code = "invalid_key";
  override readonly status = 400;
  override readonly title = "Invalid Idempotency-Key";
}

/** Thrown when a request body is larger than `maxRequestBytes`; nothing is claimed. */
export class RequestTooLargeError extends OncelyError {
  override readonly name = "RequestTooLargeError";
  override readonly code = "request_too_large";
  override readonly status = 413;
  override readonly title = "Request body too large to fingerprint";
}

/** Thrown when another request with the same key is still running (`onInFlight: "reject"`, or the wait timed out). */
export class InFlightError extends OncelyError {
  override readonly name = "InFlightError";
  override readonly code = "in_flight";
  override readonly status = 409;
  override readonly title = "A request with this Idempotency-Key is in progress";
}

/** Thrown when a key is reused with a different method, path, query, body or fingerprinted header. */
export class FingerprintMismatchError extends OncelyError {
  override readonly name = "FingerprintMismatchError";
  override readonly code = "fingerprint_mismatch";
  override readonly status = 422;
  override readonly title = "Idempotency-Key reused with a different request";
}

/** Thrown on a retry of an operation that completed but whose response exceeded `maxResponseBytes`. */
export class ResponseNotKeptError extends OncelyError {
  override readonly name = "ResponseNotKeptError";
  override readonly code = "response_not_kept";
  override readonly status = 410;
  override readonly title = "Operation completed; its response was not kept";
}

/** Thrown when one (scope, key) is hit more often than `rateLimit` allows. */
export class RateLimitedError extends OncelyError {
  override readonly name = "RateLimitedError";
  override readonly code = "rate_limited";
  override readonly status = 429;
  override readonly title = "Too many requests with this Idempotency-Key";
}

/** Thrown when the store fails or is slower than its timeout; the handler is not run (unless `failOpen`). */
export class StoreError extends OncelyError {
  override readonly name: string = "StoreError";
  override readonly code: string = "store_unavailable";
  override readonly status: number = 503;
  override readonly title: string = "Idempotency store unavailable";
  /** The store's name (`memory`, `redis`, ...). */
  readonly store: string;
  /** The store operation that failed (`claim`, `complete`, ...). */
  readonly operation: string;

  constructor(store: string, operation: string, message: string, context: OncelyErrorContext = {}) {
    super(`[oncely] [${store}] ${operation} ${message}`, { retryAfter: 1, ...context });
    this.store = store;
    this.operation = operation;
  }

  override get detail(): string {
    return `The idempotency store is unavailable; retry after ${secondsText(this.retryAfter ?? 1)}.`;
  }
}

/** Thrown when a store call takes longer than `storeTimeout`. */
export class StoreTimeoutError extends StoreError {
  override readonly name = "StoreTimeoutError";
  override readonly code = "store_timeout";

  override get detail(): string {
    return `The idempotency store did not answer in time; retry after ${secondsText(this.retryAfter ?? 1)}.`;
  }
}

/** Thrown by a store when a record cannot be kept, e.g. it exceeds the backend's item size limit. */
export class RecordTooLargeError extends StoreError {
  override readonly name = "RecordTooLargeError";
  override readonly code = "record_too_large";
}

/** Thrown by a store's `list()` when `cursor` is not one a previous page returned. */
export class InvalidCursorError extends OncelyError {
  override readonly name = "InvalidCursorError";
  override readonly code = "invalid_cursor";
  override readonly status = 400;
  override readonly title = "Invalid list cursor";

  constructor(cursor: unknown) {
    super(`Expected \`cursor\` to be a cursor returned by list(), got ${JSON.stringify(cursor)}`);
  }
}

/** Thrown when a stored response cannot be opened: its key is no longer configured, or the record was altered. */
export class DecryptionError extends OncelyError {
  override readonly name = "DecryptionError";
  override readonly code = "decryption_failed";
  override readonly status = 500;
  override readonly title = "Stored response cannot be decrypted";

  override get detail(): string {
    return "The stored response for this Idempotency-Key cannot be read; the cause is in the server's log.";
  }
}

/**
 * Answered (500) when a function of the app that oncely calls before the handler, `scope` or `fingerprint`, throws:
 * nothing is claimed and the handler does not run. The thrown error is its `cause`, and goes to the server's log.
 */
export class CheckFailedError extends OncelyError {
  override readonly name = "CheckFailedError";
  override readonly code = "check_failed";
  override readonly status = 500;
  override readonly title = "Idempotency check failed";

  override get detail(): string {
    return "The server could not check this request's Idempotency-Key, and did not run it; the cause is in the server's log.";
  }
}

/**
 * A request reached a route the app meant oncely to guard, but oncely was set up after the route was declared, so it
 * never saw the route (a Fastify plugin registered without `await`, a Koa or Express middleware mounted after the
 * router). It is refused rather than run without idempotency; the server log says what to change.
 */
export class UnguardedRouteError extends OncelyError {
  override readonly name = "UnguardedRouteError";
  override readonly code = "unguarded_route";
  override readonly status = 500;
  override readonly title = "Route not guarded by oncely";
}

/** Thrown by `idem.run` when its claim was taken over by another holder before the work finished. */
export class ClaimLostError extends OncelyError {
  override readonly name = "ClaimLostError";
  override readonly code = "claim_lost";
  override readonly status = 409;
  override readonly title = "The claim on this Idempotency-Key was lost";
}

/** Why a followed stream ended early (see `StreamInterruptedError`). */
export type StreamInterruption = "holder_lost" | "handler_failed" | "response_not_kept";

/**
 * Ends a stream a retry follows (`stream: true` routes) before its normal end: the run's holder died or lost its
 * claim (`holder_lost`: the next retry runs the handler again once the lease lapses), the handler failed or answered
 * a status that is not stored (`handler_failed`), or the stream grew past `maxResponseBytes` (`response_not_kept`).
 * A `text/event-stream` follower gets it as an `oncely-error` event; any other stream is cut off without its end.
 */
export class StreamInterruptedError extends OncelyError {
  override readonly name = "StreamInterruptedError";
  override readonly code = "stream_interrupted";
  override readonly status = 502;
  override readonly title = "The stream ended before its end";

  constructor(
    /** Why the stream ended early. */
    readonly reason: StreamInterruption,
    message: string,
    context?: OncelyErrorContext,
  ) {
    super(message, context);
  }
}

/**
 * Thrown by `step()` when the steps a retry asks for do not match what its run recorded (the handler changed, or
 * asks for its steps in another order): a recorded result is never handed to a different step.
 */
export class StepMismatchError extends OncelyError {
  override readonly name = "StepMismatchError";
  override readonly code = "step_mismatch";
  override readonly status = 500;
  override readonly title = "Steps do not match the recorded run";
}

/** Thrown by `step()` when a run would record more steps, or a larger result, than `steps` allows. */
export class StepLimitError extends OncelyError {
  override readonly name = "StepLimitError";
  override readonly code = "step_limit";
  override readonly status = 500;
  override readonly title = "Step limit exceeded";
}

/**
 * Throw it from a step to mark a failure that retrying cannot fix (a declined card, an invalid address): it is
 * recorded, and every retry of the run gets it again from that step instead of running the step again, so the
 * handler can compensate once and answer.
 *
 * @example
 * await step("charge", async (s) => {
 *   const result = await psp.charge(card, { idempotencyKey: s.key });
 *   if (result.declined) throw new TerminalError("card declined", { details: { reason: result.reason } });
 *   return result.id;
 * });
 */
export class TerminalError extends Error {
  /** `"TerminalError"`: how logs and stack traces name a failure a step recorded as final. */
  override readonly name = "TerminalError";
  /** JSON data recorded with the error and given back on every retry. */
  readonly details?: unknown;
  /** True when this error was recorded by an earlier attempt and is given back rather than thrown by the step. */
  readonly replayed: boolean;

  constructor(message: string, options: { details?: unknown; cause?: unknown; replayed?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.details = options.details;
    this.replayed = options.replayed ?? false;
  }
}

/**
 * Thrown by a store that holds as many records as it may (`MemoryStore`'s `maxEntries`, or `maxEntriesPerScope` for
 * the request's scope) when a claim would add a record. A store never drops an unexpired record to make room, so it
 * refuses the new key instead; keys it already holds still replay, conflict or take over. A full store is not an
 * outage: `failOpen` does not run the handler, and the event is `store-full`, not `store-error`.
 */
export class StoreFullError extends OncelyError {
  override readonly name = "StoreFullError";
  override readonly code = "store_full";
  override readonly status = 503;
  override readonly title = "Idempotency store full";
  /** The store's name (`memory`, ...). */
  readonly store: string;
  /** Which limit was reached: the whole store's, or the one the request's scope has. */
  readonly limit: "store" | "scope";

  /** `retryAfter`: seconds until the earliest record the store holds may expire (at least 1). */
  constructor(store: string, limit: "store" | "scope", retryAfter: number) {
    super(
      limit === "store"
        ? "The idempotency store is full; retry this request later"
        : "This client holds as many idempotency records as it may; retry this request later",
      { retryAfter },
    );
    this.store = store;
    this.limit = limit;
  }
}
