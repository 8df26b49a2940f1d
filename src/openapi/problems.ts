import {
  FingerprintMismatchError,
  InFlightError,
  InvalidKeyError,
  MissingKeyError,
  type OncelyError,
  RateLimitedError,
  RecordTooLargeError,
  RequestTooLargeError,
  ResponseNotKeptError,
  StoreError,
  StoreFullError,
  StoreTimeoutError,
} from "../core/errors.js";

/** One status oncely answers on its own, with the errors behind it and what the response documents. */
export interface ProblemStatus {
  status: number;
  /** The name under `components.responses`. */
  component: string;
  description: string;
  /** The errors answered with this status, as the engine words them: each one's problem body is an example. */
  errors: readonly OncelyError[];
  /** Whether every answer with this status carries `Retry-After` (and `retryAfter` in its body). */
  retryAfter: boolean;
}

/**
 * The statuses a guarded HTTP route can answer without running its handler, built from the error classes the
 * engine throws, so the documented `type` and `code` values are the ones the server sends.
 */
export function problemStatuses(): ProblemStatus[] {
  return [
    {
      status: 400,
      component: "IdempotencyKeyRejected",
      description:
        "The idempotency key is missing (on an operation that requires one) or malformed: empty, too long, outside " +
        "visible ASCII, or sent twice with different values. Nothing ran; send the request again with a valid key.",
      errors: [
        new MissingKeyError("This route requires an Idempotency-Key header"),
        new InvalidKeyError("Idempotency-Key is 300 characters; the limit is 255"),
      ],
      retryAfter: false,
    },
    {
      status: 409,
      component: "IdempotencyRequestInFlight",
      description:
        "A request with this idempotency key is still being processed. Retry with the same key after `Retry-After` " +
        "seconds: the retry gets the first request's response once it completes.",
      errors: [
        new InFlightError("A request with this Idempotency-Key is still being processed; retry shortly", {
          retryAfter: 1,
        }),
      ],
      retryAfter: true,
    },
    {
      status: 410,
      component: "IdempotencyResponseNotKept",
      description:
        "The operation with this idempotency key completed, but its response was too large to keep, so it cannot " +
        "be replayed. The operation will not run again for this key.",
      errors: [
        new ResponseNotKeptError(
          "The operation completed, but its response was larger than maxResponseBytes and was not kept; it will not run again",
        ),
      ],
      retryAfter: false,
    },
    {
      status: 413,
      component: "IdempotencyRequestTooLarge",
      description: "The request body is too large to fingerprint. Nothing ran and the key was not claimed.",
      errors: [new RequestTooLargeError("The request body is over 1048576 bytes")],
      retryAfter: false,
    },
    {
      status: 422,
      component: "IdempotencyKeyReused",
      description:
        "This idempotency key was already used with a different request (method, path, query, body or " +
        "fingerprinted header). Nothing ran; use a new key for a new request.",
      errors: [
        new FingerprintMismatchError(
          "This Idempotency-Key was already used with a different method, path, query or body; use a new key for a new request",
        ),
      ],
      retryAfter: false,
    },
    {
      status: 429,
      component: "IdempotencyKeyRateLimited",
      description: "Too many requests with this idempotency key. Retry with the same key after `Retry-After` seconds.",
      errors: [new RateLimitedError("Over 100 requests with this key", { retryAfter: 1 })],
      retryAfter: true,
    },
    {
      status: 503,
      component: "IdempotencyStoreUnavailable",
      description:
        "The idempotency store is unavailable, too slow, or full, so the request was not run. Retry with the same " +
        "key after `Retry-After` seconds.",
      errors: [
        new StoreError("", "", ""),
        new StoreTimeoutError("", "", ""),
        new RecordTooLargeError("", "", ""),
        new StoreFullError("", "store", 1),
      ],
      retryAfter: true,
    },
  ];
}
