import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  ROOT_CONTEXT,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import type { Idempotency, RouteGuard } from "../core/engine.js";
import type { GuardInput, StreamingDecision } from "../core/guard.js";
import type { RunOptions } from "../core/run.js";
import type { StreamCapture } from "../core/stream-recorder.js";
import { errorType } from "./error-type.js";
import type { Instruments, TallySlot } from "./instruments.js";
import {
  ATTR_ERROR_TYPE,
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
  /** The context oncely's work runs in: the request's span, and the request for events to find. */
  context: Context | undefined;
  /** Ends the span (when a decision was recorded on it) and counts the request out. Only the first call counts. */
  end(status?: number): void;
  /**
   * Ends the span after the engine threw. A throw that carries a decision (`idem.run` throws its refusals, and the
   * work's own error after releasing) ends it as `end` does; any other (a `scope` or `fingerprint` function that threw)
   * is recorded on it as a failure.
   */
  fail(error: unknown): void;
}

const PROBE = createContextKey("oncely context probe");
const probe = ROOT_CONTEXT.setValue(PROBE, true);
const probeIsActive = () => context.active() === probe;

/**
 * Whether a context manager carries context through calls. Without one (a bare `BasicTracerProvider`), `context.with`
 * only calls its function: events could not find the request's span, so they make spans of their own instead.
 */
function carriesContext(): boolean {
  return context.with(probe, probeIsActive);
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
    let ended = false;
    const counted = () => {
      if (ended) return false;
      ended = true;
      active.count--;
      return true;
    };
    if (!carriesContext()) return { context: undefined, end: counted, fail: counted };
    const parent = context.active();
    const span = tracer.startSpan(name, { attributes: spanAttributes }, parent);
    const request: TracedRequest = { span, decided: false };
    return {
      context: trace.setSpan(parent, span).setValue(TRACED_REQUEST, request),
      end(status) {
        // No decision recorded: the engine passed the request through. A span never ended is never exported.
        if (!counted() || !request.decided) return;
        // The event's status wins; events without one (a store failure before the claim) get the answer's.
        if (status !== undefined && request.status === undefined && span.isRecording()) {
          span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
        }
        span.end();
      },
      fail(error) {
        if (!counted()) return;
        if (!request.decided && span.isRecording()) {
          span.recordException(error instanceof Error ? error : String(error));
          span.setAttribute(ATTR_ERROR_TYPE, errorType(error));
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
        }
        span.end();
      },
    };
  }

  function tracedGuard(guard: RouteGuard<StreamingDecision>): RouteGuard<StreamingDecision> {
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
      begin(input: GuardInput): Promise<StreamingDecision> {
        // The engine passes these through without a decision; a span each would be noise on every GET.
        if (!options.methods.has(input.method) || (!options.required && input.headers[header] === undefined)) {
          return guard.begin(input);
        }
        const attributes = attributesFor(input.method);
        const tracing = startTracing(attributes.name, attributes.span, attributes.active);
        return runIn(tracing, () => guard.begin(input)).then(
          (decision) => {
            if (decision.action !== "execute") {
              tracing.end(decision.action === "pass" ? undefined : decision.response.status);
              return decision;
            }
            const { finish, abandon, stream } = decision;
            return {
              ...decision,
              ...(stream && { stream: tracedStream(tracing, stream) }),
              finish: (response) =>
                runIn(tracing, () => finish(response)).then(
                  (replacement) => {
                    tracing.end(replacement?.status ?? response.status);
                    return replacement;
                  },
                  (error: unknown) => {
                    tracing.fail(error);
                    throw error;
                  },
                ),
              abandon: (error) => runIn(tracing, () => abandon(error)).finally(() => tracing.end()),
            };
          },
          (error: unknown) => {
            tracing.fail(error);
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
    route: ((routeOptions, adapter) => tracedGuard(idem.route(routeOptions, adapter))) as Idempotency["route"],
    run(key: string, work: unknown, ...rest: unknown[]) {
      const name = typeof work === "string" ? work : ((rest[0] as RunOptions | undefined)?.name ?? "run");
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
      const run = idem.run as (key: string, work: unknown, ...rest: unknown[]) => Promise<unknown>;
      return runIn(tracing, () => run(key, work, ...rest)).then(
        (result) => {
          tracing.end();
          return result;
        },
        (error: unknown) => {
          tracing.fail(error);
          throw error;
        },
      );
    },
    define: (name, handler) => idem.define(name, handler),
    recover: (recoverOptions) => idem.recover(recoverOptions),
    ready: () => idem.ready(),
    close: () => idem.close(),
  };
}

function runIn<T>(tracing: Tracing, call: () => Promise<T>): Promise<T> {
  try {
    return tracing.context ? context.with(tracing.context, call) : call();
  } catch (error) {
    return Promise.reject(error);
  }
}

/** A streaming route's recorder, ending the request's span when the stream ends (stored) or fails. */
function tracedStream(tracing: Tracing, stream: StreamCapture): StreamCapture {
  let status: number | undefined;
  return {
    head(headStatus, headers) {
      status = headStatus;
      stream.head(headStatus, headers);
    },
    write: (chunk) => stream.write(chunk),
    end: () =>
      runIn(tracing, () => stream.end()).then(
        (replacement) => {
          tracing.end(replacement?.status ?? status);
          return replacement;
        },
        (error: unknown) => {
          tracing.fail(error);
          throw error;
        },
      ),
    fail: (error) => runIn(tracing, () => stream.fail(error)).finally(() => tracing.end()),
  };
}
