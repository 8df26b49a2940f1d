import { type Attributes, createContextKey, type Span, SpanStatusCode } from "@opentelemetry/api";
import type { IdempotencyEvent } from "../core/events.js";
import { keyHash } from "../core/key-hash.js";
import { errorType } from "./error-type.js";
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_ONCELY_DECISION,
  ATTR_ONCELY_DURATION,
  ATTR_ONCELY_KEY_HASH,
  ATTR_ONCELY_REASON,
  ATTR_ONCELY_RECOVERED,
  ATTR_ONCELY_ROUTE,
  ATTR_ONCELY_SCOPE_HASH,
  ATTR_ONCELY_STORE_DURATION,
  ATTR_ONCELY_TOKEN,
} from "./names.js";

/** One guarded request (or `idem.run` call) being traced: its span, and whether its decision has been recorded. */
export interface TracedRequest {
  readonly span: Span;
  decided: boolean;
  /** The HTTP status an event recorded on the span, if any. */
  status?: number;
}

/**
 * Where the instrumented engine puts the request it is tracing, in the context its store calls and events run in:
 * events find their request's span there.
 */
export const TRACED_REQUEST = createContextKey("oncely traced request");

/** Decisions that mean oncely could not do its job: the outcome was lost (fenced), the store or a check failed. */
const FAILED = new Set(["store-error", "check-failed", "fenced"]);

/**
 * The span attributes of a decision. The key appears only as `oncely.key_hash`; the event's `error` only as
 * `error.type` (its message may come from a driver and is kept to the store operation's own span).
 */
export function decisionAttributes(event: IdempotencyEvent): Attributes {
  const attributes: Attributes = {
    [ATTR_ONCELY_DECISION]: event.type,
    [ATTR_ONCELY_ROUTE]: event.route,
    [ATTR_ONCELY_DURATION]: event.duration / 1000,
  };
  if (event.key !== undefined) attributes[ATTR_ONCELY_KEY_HASH] = keyHash(event.key);
  if (event.scope !== undefined) attributes[ATTR_ONCELY_SCOPE_HASH] = event.scope;
  if (event.status !== undefined) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = event.status;
  if (event.token !== undefined) attributes[ATTR_ONCELY_TOKEN] = event.token;
  if (event.storeDuration !== undefined) attributes[ATTR_ONCELY_STORE_DURATION] = event.storeDuration / 1000;
  if (event.reason !== undefined) attributes[ATTR_ONCELY_REASON] = event.reason;
  if (event.error !== undefined) attributes[ATTR_ERROR_TYPE] = errorType(event.error);
  else if (event.type === "fenced") attributes[ATTR_ERROR_TYPE] = "fenced";
  return attributes;
}

/**
 * Records an event on the request's span. `recovered` comes before the request's decision (the takeover, then
 * `executed`, `released` or `fenced`): it marks the span and leaves the decision to come.
 */
export function recordOnSpan(span: Span, event: IdempotencyEvent): void {
  if (!span.isRecording()) return;
  if (event.type === "recovered") {
    span.setAttribute(ATTR_ONCELY_RECOVERED, true);
    return;
  }
  span.setAttributes(decisionAttributes(event));
  if (FAILED.has(event.type)) span.setStatus({ code: SpanStatusCode.ERROR, message: event.reason });
}
