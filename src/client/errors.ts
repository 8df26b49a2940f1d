// The client's own error classes. They do not extend the server's `OncelyError` (src/core/errors.ts): those carry an
// HTTP status and problem type the server answers with, while these describe what happened to a call on the client.

const BRAND = Symbol.for("oncely.client-error");

/** What every client error knows about the call it ended. */
export interface ClientErrorContext {
  /** The Idempotency-Key the call sent on every attempt (absent when it sent none). */
  idempotencyKey?: string;
  /** How many attempts were sent before the call ended. */
  attempts?: number;
  /** The error that ended the call (the last attempt's), when there was one. */
  cause?: unknown;
}

/**
 * Base class of every error `oncely/client` throws. `code` is stable across releases; match on it (or on the class)
 * rather than on the message.
 */
export class OncelyClientError extends Error {
  /** The class name, a literal per subclass (`"RetryDeadlineError"`, ...), so logs and stack traces say which it is. */
  override readonly name: string = "OncelyClientError";
  /** Stable machine-readable code, one per class (`retry_deadline_exceeded`, ...): match on it. */
  readonly code: string = "oncely_client_error";
  /** The Idempotency-Key the call sent on every attempt (absent when it sent none). */
  declare readonly idempotencyKey?: string;
  /** How many attempts were sent before the call ended. */
  declare readonly attempts: number;

  /** @param fields the subclass's own fields (`status`, `deadline`, ...), set on the error as they are */
  constructor(message: string, context: ClientErrorContext = {}, fields?: object) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    Object.assign(this, { idempotencyKey: context.idempotencyKey, attempts: context.attempts ?? 0 }, fields);
  }
}
// On the prototype, so every subclass instance carries it without a per-instance property.
(OncelyClientError.prototype as unknown as Record<symbol, boolean>)[BRAND] = true;

/** True for any `oncely/client` error, across realms and duplicate installs (a global symbol, not `instanceof`). */
export function isOncelyClientError(value: unknown): value is OncelyClientError {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** The fields of an RFC 9457 problem (or a Stripe error object) that say why a request was refused. */
export interface ProblemDetails {
  /** The problem type URI (`urn:oncely:problem:fingerprint-mismatch`), or Stripe's error `type`. */
  type?: string;
  /** A short summary of the kind of problem. */
  title?: string;
  /** What went wrong with this request, for people. */
  detail?: string;
  /** oncely's and Stripe's machine code (`fingerprint_mismatch`, `idempotency_key_in_use`, ...). */
  code?: string;
  /** The parsed body as the server sent it. */
  body: unknown;
}

/**
 * Thrown when the server refused the idempotent request itself with a 400 or 422: the key was missing or malformed,
 * or it was already used for a different request. Retrying cannot help, so the call stops after one attempt and the
 * key is dropped from the key store. A 400/422 that is your API's own validation answer is not an error: it resolves
 * as a normal response.
 *
 * @example
 * try { await idempotentFetch("/charges", { method: "POST", body }); }
 * catch (error) { if (error instanceof IdempotencyRequestError) console.error(error.status, error.problem.detail); }
 */
export class IdempotencyRequestError extends OncelyClientError {
  override readonly name = "IdempotencyRequestError";
  override readonly code = "idempotency_rejected";
  /** The HTTP status, 400 or 422. */
  declare readonly status: number;
  /** The problem's type, title, detail and code. */
  declare readonly problem: ProblemDetails;

  constructor(status: number, problem: ProblemDetails, context: ClientErrorContext) {
    const why = problem.detail ?? problem.title ?? problem.type ?? "no detail given";
    super(`The server refused the key with ${status}: ${why}`, context, { status, problem });
  }
}

/**
 * Thrown when the call's total `deadline` passed: during an attempt (which is aborted), or because the next wait
 * (backoff or `Retry-After`) would end past it. `cause` is the last attempt's error, if it failed with one.
 */
export class RetryDeadlineError extends OncelyClientError {
  override readonly name = "RetryDeadlineError";
  override readonly code = "retry_deadline_exceeded";
  /** The deadline, in milliseconds from the start of the call. */
  declare readonly deadline: number;
  /** The status of the last response, when the last attempt got one (a 503 asking to wait too long, say). */
  declare readonly lastStatus?: number;

  /** @param context.reason why the deadline ended the call, when it is not simply "time ran out" */
  constructor(deadline: number, context: ClientErrorContext & { lastStatus?: number; reason?: string }) {
    const why = context.reason ? `; ${context.reason}` : "";
    super(`No final answer within the ${deadline} ms deadline (attempts: ${context.attempts ?? 0}${why})`, context, {
      deadline,
      lastStatus: context.lastStatus,
    });
  }
}

/** Thrown when every allowed attempt failed without a response (network errors, timeouts). `cause` is the last one. */
export class RetriesExhaustedError extends OncelyClientError {
  override readonly name = "RetriesExhaustedError";
  override readonly code = "retries_exhausted";

  constructor(context: ClientErrorContext) {
    const last = context.cause instanceof Error ? `: ${context.cause.message}` : "";
    super(`All ${context.attempts ?? 0} attempts failed without a response${last}`, context);
  }
}

/** The error of one attempt that took longer than `timeout`. Retried; seen as `cause` when it was the last one. */
export class AttemptTimeoutError extends OncelyClientError {
  override readonly name = "AttemptTimeoutError";
  override readonly code = "attempt_timeout";
  /** The per-attempt timeout, in milliseconds. */
  declare readonly timeout: number;

  constructor(timeout: number, context?: ClientErrorContext) {
    super(`The attempt got no response within ${timeout} ms`, context, { timeout });
  }
}

/**
 * Thrown before anything is sent when a request body cannot be sent twice: a stream (or a `Request`'s body) larger
 * than `maxBodyBytes`. Smaller streams are read into memory once so every retry sends the same bytes.
 */
export class BodyNotReplayableError extends OncelyClientError {
  override readonly name = "BodyNotReplayableError";
  override readonly code = "body_not_replayable";
  /** The `maxBodyBytes` the stream went over. */
  declare readonly limit: number;

  constructor(limit: number, context?: ClientErrorContext) {
    super(`A stream body over ${limit} bytes (\`maxBodyBytes\`) cannot be sent again on a retry`, context, { limit });
  }
}

/**
 * Errors the body of a streamed answer whose connection dropped, when the call sent again (same key) was not answered
 * from the same recorded stream (`Idempotent-Replayed: true`): stitching another answer on would corrupt the body.
 * `cause` is the drop's error.
 */
export class StreamResumeError extends OncelyClientError {
  override readonly name = "StreamResumeError";
  override readonly code = "stream_not_resumed";
}
