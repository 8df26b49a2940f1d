import { hash } from "node:crypto";
import type { IdempotencyEvent, IdempotencyEventType } from "../../src/index.js";

export interface DecisionLogOptions {
  /**
   * Log the Idempotency-Key itself beside its hash. A key is no secret in Stripe's model (it cannot replay another
   * principal's record), but a key made from an order number or an e-mail address is personal data: off by default.
   * @default false
   */
  rawKey?: boolean;
}

/** One decision as log fields: the same names as the span attributes of `oncely/otel`, under `oncely`. */
export interface DecisionFields {
  decision: IdempotencyEventType;
  route: string;
  /** First 16 hex characters of SHA-256 of the key: `printf %s "$KEY" | sha256sum | cut -c1-16`. */
  key_hash?: string;
  key?: string;
  scope_hash?: string;
  status?: number;
  token?: number;
  duration_ms: number;
  store_duration_ms?: number;
  reason?: string;
  /** The error's code or class name; its message stays out (a handler's error may quote what it was sent). */
  error_type?: string;
}

export function decisionFields(event: IdempotencyEvent, { rawKey = false }: DecisionLogOptions = {}): DecisionFields {
  const fields: DecisionFields = { decision: event.type, route: event.route, duration_ms: round(event.duration) };
  if (event.key !== undefined) {
    fields.key_hash = hash("sha256", event.key, "hex").slice(0, 16);
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

/** `store-error`: oncely could not do its job; `fenced`: a result was not stored. Every other decision is routine. */
export function decisionLevel(type: IdempotencyEventType): "info" | "warn" | "error" {
  return type === "store-error" ? "error" : type === "fenced" ? "warn" : "info";
}

function errorType(error: unknown): string {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  return typeof code === "string" ? code : typeof name === "string" ? name : "unknown";
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
