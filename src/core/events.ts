/** Every decision oncely takes, one event each. */
export type IdempotencyEventType =
  | "executed"
  | "replayed"
  | "conflict"
  | "mismatch"
  | "invalid"
  | "too-large"
  | "recovered"
  | "released"
  | "fenced"
  | "store-error"
  | "store-full"
  | "check-failed"
  | "client-aborted"
  | "rate-limited";

/**
 * What `onEvent` receives: enough to answer "was this a replay?" from logs, and never a body.
 * @example
 * createIdempotency({ store, onEvent: (e) => logger.info({ idempotency: e }, `idempotency ${e.type}`) });
 */
export interface IdempotencyEvent {
  /** The decision: `executed`, `replayed`, `conflict`, `mismatch`, `invalid`, ... */
  type: IdempotencyEventType;
  /** The route name (`route` option), or `METHOD /path`. */
  route: string;
  /** The client's Idempotency-Key, when one was read. */
  key?: string;
  /** A short hash of the scope, when a scope is configured. */
  scope?: string;
  /** The HTTP status answered (or stored), where there is one. */
  status?: number;
  /** The claim's fencing token, where there is one. */
  token?: number;
  /** Milliseconds from the start of oncely's work on the request to this decision. */
  duration: number;
  /** Milliseconds spent waiting for the store. */
  storeDuration?: number;
  /** Why, for `invalid`, `too-large`, `released`, `store-error`, `check-failed`, `client-aborted` and `fenced`. */
  reason?: string;
  /**
   * The error behind a `store-error`, a `check-failed` (what the app's `scope` or `fingerprint` threw), a
   * `client-aborted` (the body stream's error) or a released claim.
   */
  error?: unknown;
}
