/**
 * A fetch that sends one Idempotency-Key per intent and retries only what is safe.
 *
 * @module oncely/client
 */
// oncely/client: a fetch that makes retries safe, for Node, browsers, Deno, Bun and React Native. Standard fetch,
// AbortSignal and crypto only; nothing here may import a Node built-in (test/client/browser-bundle.test.ts checks).
export { type Backoff, backoffDelay } from "./backoff.js";
export {
  AttemptTimeoutError,
  BodyNotReplayableError,
  type ClientErrorContext,
  IdempotencyRequestError,
  isOncelyClientError,
  OncelyClientError,
  type ProblemDetails,
  RetriesExhaustedError,
  RetryDeadlineError,
  StreamResumeError,
} from "./errors.js";
export {
  type ClientOptions,
  createClient,
  type FetchLike,
  type IdempotentFetch,
  type IdempotentRequestInit,
  idempotentFetch,
} from "./fetch.js";
export { type IdempotencyInfo, idempotencyInfo } from "./info.js";
export { type KeyGenerator, randomKey } from "./key.js";
export {
  type KeyStore,
  memoryKeyStore,
  type StorageKeyStoreOptions,
  type StorageLike,
  storageKeyStore,
} from "./key-store.js";
export type { CallOptions, RetryInfo, RetryOptions } from "./options.js";
export { IDEMPOTENT_METHODS, IN_FLIGHT_PROBLEM, ONCELY_PROBLEM_PREFIX } from "./policy.js";
export { parseRetryAfter } from "./retry-after.js";
