import type { IdempotencyEvent, IdempotencyEventType } from "./events.js";
import { keyHash } from "./key-hash.js";

/** Options of `decisionFields`. */
export interface DecisionLogOptions {
  /**
   * Log the Idempotency-Key itself beside its hash. A key is no secret in Stripe's model (it cannot replay another
   * principal's record), but a key made from an order number or an e-mail address is personal data: off by default.
   * @default false
   */
  rawKey?: boolean;
}

/** One decision as log fields, named as the span attributes of `oncely/otel`; log them under `oncely`. */
export interface DecisionFields {
  /** The event type: `executed`, `replayed`, `conflict`, ... */
  decision: IdempotencyEventType;
  /** The `route` option, or `METHOD /path`. */
  route: string;
  /** First 16 hex characters of SHA-256 of the key: `printf %s "$KEY" | sha256sum | cut -c1-16`. */
  key_hash?: string;
  /** The key itself, only with `{ rawKey: true }`. */
  key?: string;
  /** The engine's hash of the scope, when one is configured. */
  scope_hash?: string;
  /** The status answered or stored. */
  status?: number;
  /** The claim's fencing token. */
  token?: number;
  /** oncely's time on the request, ms. */
  duration_ms: number;
  /** The store's share of `duration_ms`. */
  store_duration_ms?: number;
  /** Why, for `invalid`, `too-large`, `released`, `fenced` and `store-error`. */
  reason?: string;
  /** The error's code or class name; its message stays out (a handler's error may quote what it was sent). */
  error_type?: string;
}

/**
 * The fields of one log line for a decision: what `onEvent` gets, without bodies (events never carry them) and with
 * the key hashed unless `rawKey` is set. The proxy's log and the logging recipes in docs/operations.md write these.
 *
 * @example
 * const idem = createIdempotency({
 *   store,
 *   onEvent: (event) => logger[decisionLevel(event.type)]({ oncely: decisionFields(event) }, `oncely ${event.type}`),
 * });
 */
export function decisionFields(event: IdempotencyEvent, { rawKey = false }: DecisionLogOptions = {}): DecisionFields {
  const fields: DecisionFields = { decision: event.type, route: event.route, duration_ms: round(event.duration) };
  if (event.key !== undefined) {
    fields.key_hash = keyHash(event.key);
    if (rawKey) fields.key = event.key;
  }
  if (event.scope !== undefined) fields.scope_hash = event.scope;
  if (event.status !== undefined) fields.status = event.status;
  if (event.token !== undefined) fields.token = event.token;
  if (event.storeDuration !== undefined) fields.store_duration_ms = round(event.storeDuration);
  if (event.reason !== undefined) fields.reason = event.reason;
  if (event.error !== undefined) fields.error_type = errorType(event.error);
  return fields;
}

/**
 * The log level of a decision: `store-error` and `check-failed` are errors (oncely could not do its job), `fenced`,
 * `store-full` and `client-aborted` warnings (a result was not stored; a new key was refused until records expire; a
 * client hung up mid-upload, so nothing ran), every other decision routine.
 */
export function decisionLevel(type: IdempotencyEventType): "info" | "warn" | "error" {
  return type === "store-error" || type === "check-failed"
    ? "error"
    : type === "fenced" || type === "store-full" || type === "client-aborted"
      ? "warn"
      : "info";
}

function errorType(error: unknown): string {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  return typeof code === "string" ? code : typeof name === "string" ? name : "unknown";
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
