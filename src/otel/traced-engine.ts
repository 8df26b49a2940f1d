import { type Attributes, type Context, context, type Tracer, trace } from "@opentelemetry/api";
import type { Idempotency, RouteGuard } from "../core/engine.js";
import type { Decision, GuardInput } from "../core/guard.js";
import type { Instruments, TallySlot } from "./instruments.js";
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_ONCELY_ROUTE,
  ATTR_ONCELY_STORE_NAME,
  requestSpanName,
  runSpanName,
} from "./names.js";
import { TRACED_REQUEST, type TracedRequest } from "./traced-request.js";

export interface TracedEngineSettings {
  tracer: Tracer;
  instruments: () => Instruments;
  /** The Idempotency-Key header, lower-case. */
  header: string;
  /** Filled here with every configured `route` and `idem.run` name: the routes that may label metrics. */
  metricRoutes: Set<string>;
  runNames: Set<string>;
}

/** A request being traced, and how to end it once: the span, and the in-flight count. */
interface Tracing {
  request: TracedRequest;
  context: Context;
  /** Ends the span (when a decision was recorded on it) and counts the request out. Idempotent. */
  end(status?: number): void;
}

/**
 * Gives each guarded request (and each `idem.run`) a span from oncely's first step to its decision, and counts it in
 * `oncely.requests.active` meanwhile. The engine's work runs inside the span's context, so store operations become
 * its children and events find it. A request oncely only passes through (an unguarded method, no key on an optional
 * route) gets no span.
 */
export function tracedEngine(idem: Idempotency, settings: TracedEngineSettings): Idempotency {
  const { tracer, instruments, header, metricRoutes, runNames } = settings;
  const storeName = idem.store.name;
  const runAttributes = new Map<string, { span: Attributes; active: TallySlot }>();

  function startTracing(name: string, spanAttributes: Attributes, active: TallySlot): Tracing {
    active.count++;
    const parent = context.active();
    const span = tracer.startSpan(name, { attributes: spanAttributes }, parent);
    const request: TracedRequest = { span, decided: false };
    let ended = false;
    return {
      request,
      context: trace.setSpan(parent, span).setValue(TRACED_REQUEST, request),
      end(status) {
        if (ended) return;
        ended = true;
        active.count--;
        // No decision on it: a pass, or a process without a context manager, where the events made spans of their
        // own. A span never ended is never exported.
        if (!request.decided) return;
        // The event's status wins; events without one (a store failure before the claim) get the answer's.
        if (status !== undefined && request.status === undefined && span.isRecording()) {
          span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
        }
        span.end();
      },
    };
  }

  function tracedGuard(guard: RouteGuard): RouteGuard {
    const { options } = guard;
    const named = options.route;
    if (named !== undefined) metricRoutes.add(named);
    const attributesByMethod = new Map<string, { name: string; span: Attributes; active: TallySlot }>();
    const attributesFor = (method: string) => {
      let attributes = attributesByMethod.get(method);
      if (!attributes) {
        const active = { [ATTR_HTTP_REQUEST_METHOD]: method, ...(named ? { [ATTR_ONCELY_ROUTE]: named } : {}) };
        const span = { ...active, [ATTR_ONCELY_STORE_NAME]: storeName };
        attributes = { name: requestSpanName(named, method), active: instruments().requestsActive.slot(active), span };
        attributesByMethod.set(method, attributes);
      }
      return attributes;
    };

    return {
      options,
      begin(input: GuardInput): Promise<Decision> {
        // The engine passes these through without a decision; a span each would be noise on every GET.
        if (!options.methods.has(input.method) || (!options.required && input.headers[header] === undefined)) {
          return guard.begin(input);
        }
        const attributes = attributesFor(input.method);
        const tracing = startTracing(attributes.name, attributes.span, attributes.active);
        return runIn(tracing, () => guard.begin(input)).then(
          (decision) => {
            if (decision.action !== "execute") {
              tracing.end(decision.action === "respond" ? decision.response.status : undefined);
              return decision;
            }
            const { finish, abandon } = decision;
            return {
              ...decision,
              finish: (response) =>
                runIn(tracing, () => finish(response)).then(
                  (replacement) => {
                    tracing.end(replacement?.status ?? response.status);
                    return replacement;
                  },
                  (error: unknown) => {
                    tracing.end();
                    throw error;
                  },
                ),
              abandon: (error) => runIn(tracing, () => abandon(error)).finally(() => tracing.end()),
            };
          },
          (error: unknown) => {
            tracing.end();
            throw error;
          },
        );
      },
    };
  }

  return {
    get store() {
      return idem.store;
    },
    get options() {
      return idem.options;
    },
    route: (routeOptions) => tracedGuard(idem.route(routeOptions)),
    async run(key, work, runOptions) {
      const name = runOptions?.name ?? "run";
      let attributes = runAttributes.get(name);
      if (!attributes) {
        metricRoutes.add(name);
        runNames.add(name);
        const active = { [ATTR_ONCELY_ROUTE]: name };
        attributes = {
          active: instruments().requestsActive.slot(active),
          span: { ...active, [ATTR_ONCELY_STORE_NAME]: storeName },
        };
        runAttributes.set(name, attributes);
      }
      const tracing = startTracing(runSpanName(name), attributes.span, attributes.active);
      // The work runs inside the span's context too: its own spans become children of the run's.
      try {
        return await runIn(tracing, () => idem.run(key, work, runOptions));
      } finally {
        tracing.end();
      }
    },
    close: () => idem.close(),
  };
}

function runIn<T>(tracing: Tracing, call: () => Promise<T>): Promise<T> {
  try {
    return context.with(tracing.context, call);
  } catch (error) {
    return Promise.reject(error);
  }
}
