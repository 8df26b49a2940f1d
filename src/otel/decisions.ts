import { context, type Tracer } from "@opentelemetry/api";
import type { IdempotencyEvent } from "../core/events.js";
import type { Instruments, TallySlot } from "./instruments.js";
import {
  ATTR_ONCELY_DECISION,
  ATTR_ONCELY_ROUTE,
  ATTR_ONCELY_STORE_NAME,
  requestSpanName,
  runSpanName,
} from "./names.js";
import { recordOnSpan, TRACED_REQUEST, type TracedRequest } from "./traced-request.js";

/** What the decision listener needs from the telemetry that made it. */
export interface DecisionListenerSettings {
  tracer: Tracer;
  instruments: () => Instruments;
  storeName: string;
  /**
   * Routes whose name may label metrics: configured `route` options and `idem.run` names. The default route,
   * `METHOD /path`, carries ids in many APIs (`/orders/8f3a/refund`): as a metric attribute it would make a time
   * series per id, so, as OpenTelemetry's `http.route` rule says, it is left out of metrics.
   */
  metricRoutes: ReadonlySet<string>;
  /** `idem.run` names, for the name of a span made from an event. */
  runNames: ReadonlySet<string>;
  /** The user's own `onEvent`, called after oncely's recording, whatever happens to it. */
  next?: (event: IdempotencyEvent) => void;
}

/**
 * The `onEvent` of an instrumented engine: counts every decision in `oncely.decisions` and records it on the span of
 * the request it belongs to, found in the active context. Where that context holds no request span (no context
 * manager is registered, so nothing carries context across `await`), the event becomes a span of its own, parented
 * to whatever is active, starting `event.duration` before now: the engine measures that duration from its first step.
 */
export function decisionListener(settings: DecisionListenerSettings): (event: IdempotencyEvent) => void {
  const { tracer, instruments, storeName, metricRoutes, runNames, next } = settings;
  const byRoute = new Map<string, Map<string, TallySlot>>();
  const decisionSlot = (event: IdempotencyEvent): TallySlot => {
    const route = metricRoutes.has(event.route) ? event.route : "";
    let byType = byRoute.get(route);
    if (!byType) {
      byType = new Map();
      byRoute.set(route, byType);
    }
    let slot = byType.get(event.type);
    if (!slot) {
      const attributes = { [ATTR_ONCELY_DECISION]: event.type, ...(route ? { [ATTR_ONCELY_ROUTE]: route } : {}) };
      slot = instruments().decisions.slot(attributes);
      byType.set(event.type, slot);
    }
    return slot;
  };

  const spanFromEvent = (event: IdempotencyEvent) => {
    const end = performance.timeOrigin + performance.now();
    const space = event.route.indexOf(" ");
    const name = runNames.has(event.route)
      ? runSpanName(event.route)
      : requestSpanName(
          metricRoutes.has(event.route) ? event.route : undefined,
          space > 0 ? event.route.slice(0, space) : undefined,
        );
    const span = tracer.startSpan(name, {
      startTime: end - event.duration,
      attributes: { [ATTR_ONCELY_STORE_NAME]: storeName },
    });
    recordOnSpan(span, event);
    span.end(end);
  };

  return function recordDecision(event) {
    try {
      decisionSlot(event).count++;
      const request = context.active().getValue(TRACED_REQUEST) as TracedRequest | undefined;
      if (request) {
        if (event.type !== "recovered") request.decided = true;
        if (event.status !== undefined) request.status = event.status;
        recordOnSpan(request.span, event);
      } else if (event.type !== "recovered") {
        spanFromEvent(event);
      }
    } finally {
      next?.(event);
    }
  };
}
