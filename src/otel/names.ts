/**
 * Every span, attribute and metric name `oncely/otel` emits. Names follow OpenTelemetry's conventions: lower-case
 * dotted namespaces, snake_case words, no name that is both an attribute and a namespace (hence `oncely.store.name`
 * rather than `oncely.store`), durations in seconds, and the stable general attributes (`http.response.status_code`,
 * `http.request.method`, `error.type`) where they apply. Keys and scopes appear only hashed; bodies never.
 */

/** The instrumentation scope name of oncely's tracer and meter. */
export const INSTRUMENTATION_SCOPE = "oncely";

/** The decision oncely took for the request: `executed`, `replayed`, `conflict`, ... (the event type). */
export const ATTR_ONCELY_DECISION = "oncely.decision";
/** The route name (`route` option), or `METHOD /path` on spans; on metrics only a configured `route` (or run name). */
export const ATTR_ONCELY_ROUTE = "oncely.route";
/** The engine's short hash of the scope (the same value events and records carry), when a scope is configured. */
export const ATTR_ONCELY_SCOPE_HASH = "oncely.scope_hash";
/** The first 16 hex characters of SHA-256 of the Idempotency-Key: `printf %s "$KEY" | sha256sum | cut -c1-16`. */
export const ATTR_ONCELY_KEY_HASH = "oncely.key_hash";
/** The claim's fencing token, where the decision has one. */
export const ATTR_ONCELY_TOKEN = "oncely.token";
/** `true` when this request took over a claim whose lease had lapsed (a `recovered` event preceded the decision). */
export const ATTR_ONCELY_RECOVERED = "oncely.recovered";
/** Why, for `invalid`, `too-large`, `released`, `store-error` and `fenced` (the event's `reason`). */
export const ATTR_ONCELY_REASON = "oncely.reason";
/** Seconds from the start of oncely's work on the request to its decision (the event's `duration`). */
export const ATTR_ONCELY_DURATION = "oncely.duration";
/** Seconds the request spent waiting for the store (the event's `storeDuration`). */
export const ATTR_ONCELY_STORE_DURATION = "oncely.store.duration";
/** The store's `name`: `memory`, `sqlite`, `redis`, `postgres`, `mysql`, `dynamodb`. */
export const ATTR_ONCELY_STORE_NAME = "oncely.store.name";
/** The store operation: `claim`, `renew`, `complete`, `release`, `claim_in_transaction`, `commit`, `rollback`, ... */
export const ATTR_ONCELY_STORE_OPERATION_NAME = "oncely.store.operation.name";
/**
 * What the operation answered: `claimed`, `in-flight` or `completed` for a claim; `held` or `lost` for `renew`,
 * `complete` and `release` (lost: another holder's token now holds the record).
 */
export const ATTR_ONCELY_STORE_OUTCOME = "oncely.store.outcome";

/** OpenTelemetry's general attributes, as oncely uses them. */
export const ATTR_HTTP_RESPONSE_STATUS_CODE = "http.response.status_code";
/** The request method (`POST`), on request spans. */
export const ATTR_HTTP_REQUEST_METHOD = "http.request.method";
/** Why a request or store operation failed: the error's `code` (`store_unavailable`), else its class name. */
export const ATTR_ERROR_TYPE = "error.type";

/** Counter of decisions, by `oncely.decision` and `oncely.route`. */
export const METRIC_ONCELY_DECISIONS = "oncely.decisions";
/** Histogram of store operation latency in seconds, by `oncely.store.operation.name`, `oncely.store.name`, `error.type`. */
export const METRIC_ONCELY_STORE_OPERATION_DURATION = "oncely.store.operation.duration";
/** Up-down counter of guarded requests oncely is working on, by `http.request.method` and `oncely.route`. */
export const METRIC_ONCELY_REQUESTS_ACTIVE = "oncely.requests.active";

/** The span of one guarded request: `oncely POST /charges/:id` with a `route` option, else `oncely POST`. */
export function requestSpanName(route: string | undefined, method: string | undefined): string {
  return route ? `oncely ${route}` : method ? `oncely ${method}` : "oncely";
}

/** The span of one `idem.run` call: `oncely run send-receipt`. */
export function runSpanName(name: string): string {
  return `oncely run ${name}`;
}

/** The span of one store operation: `oncely.store claim`. */
export function storeSpanName(operation: string): string {
  return `oncely.store ${operation}`;
}
