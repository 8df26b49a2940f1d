/**
 * `oncely/otel`: OpenTelemetry traces and metrics for oncely, through `@opentelemetry/api` (an optional peer
 * dependency; only this entry loads it).
 *
 * @example
 * import { createTelemetry } from "oncely/otel";
 * const idem = createTelemetry().createIdempotency({ store: new MemoryStore(), onEvent: log });
 *
 * @module oncely/otel
 */
export { keyHash } from "../core/key-hash.js";
export {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_ONCELY_DECISION,
  ATTR_ONCELY_DURATION,
  ATTR_ONCELY_KEY_HASH,
  ATTR_ONCELY_REASON,
  ATTR_ONCELY_RECOVERED,
  ATTR_ONCELY_ROUTE,
  ATTR_ONCELY_SCOPE_HASH,
  ATTR_ONCELY_STORE_DURATION,
  ATTR_ONCELY_STORE_NAME,
  ATTR_ONCELY_STORE_OPERATION_NAME,
  ATTR_ONCELY_STORE_OUTCOME,
  ATTR_ONCELY_TOKEN,
  INSTRUMENTATION_SCOPE,
  METRIC_ONCELY_DECISIONS,
  METRIC_ONCELY_REQUESTS_ACTIVE,
  METRIC_ONCELY_STORE_OPERATION_DURATION,
} from "./names.js";
export { createTelemetry, type Telemetry, type TelemetryOptions } from "./telemetry.js";
