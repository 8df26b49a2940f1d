import { type MeterProvider, metrics, type TracerProvider, trace } from "@opentelemetry/api";
import { createIdempotency, type Idempotency } from "../core/engine.js";
import type { IdempotencyOptions } from "../core/options.js";
import type { Store } from "../core/store.js";
import { decisionListener } from "./decisions.js";
import { createInstruments, type Instruments } from "./instruments.js";
import { INSTRUMENTATION_SCOPE } from "./names.js";
import { tracedEngine } from "./traced-engine.js";
import { tracedStore } from "./traced-store.js";

/** Options of `createTelemetry`: the tracer and meter providers spans and metrics go to. */
export interface TelemetryOptions {
  /**
   * Where spans go.
   * @default the global tracer provider (`trace.getTracerProvider()`; an SDK registered later is still used)
   */
  tracerProvider?: TracerProvider;
  /**
   * Where metrics go. The global one is looked up at the first recording, so an SDK started after this call (but
   * before the first request) is used.
   * @default the global meter provider (`metrics.getMeterProvider()`)
   */
  meterProvider?: MeterProvider;
}

/** Traces and metrics for oncely, through `@opentelemetry/api`. */
export interface Telemetry {
  /**
   * `createIdempotency(options)`, instrumented: a span per guarded request with its store operations as children, the
   * `oncely.decisions`, `oncely.store.operation.duration` and `oncely.requests.active` metrics. Your own `onEvent`
   * still receives every event.
   * @example const idem = telemetry.createIdempotency({ store: new RedisStore({ client }), onEvent: log });
   */
  createIdempotency(options: IdempotencyOptions): Idempotency;
  /**
   * A store whose operations are spans and points of `oncely.store.operation.duration`, for stores used outside an
   * engine (a purge cron, an admin tool). Stores given to `createIdempotency` above are wrapped already.
   * @example const store = telemetry.store(new PostgresStore({ pool })); await store.purgeExpired({ limit: 1000 });
   */
  store<S extends Store>(store: S): S;
}

/**
 * Creates oncely's OpenTelemetry instrumentation. Without an SDK registered, every call is a no-op of the API.
 *
 * @example
 * import { createTelemetry } from "oncely/otel";
 * const telemetry = createTelemetry();
 * const idem = telemetry.createIdempotency({ store: new MemoryStore() });
 * app.post("/charges", express.json(), idempotency(idem), createCharge);
 */
export function createTelemetry(options: TelemetryOptions = {}): Telemetry {
  const { tracerProvider, meterProvider } = options;
  const tracer = (tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_SCOPE);
  let created: Instruments | undefined;
  const instruments = () => {
    created ??= createInstruments((meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_SCOPE));
    return created;
  };
  const traced = new WeakSet<Store>();
  const store = <S extends Store>(inner: S): S => {
    if (traced.has(inner)) return inner;
    const wrapped = tracedStore(inner, tracer, instruments);
    traced.add(wrapped);
    return wrapped;
  };

  return {
    store,
    createIdempotency(idempotencyOptions) {
      const { store: inner, onEvent, header = "idempotency-key" } = idempotencyOptions ?? {};
      // Options the engine will refuse: let it say why, in its own words.
      const valid =
        typeof inner?.claim === "function" &&
        (onEvent === undefined || typeof onEvent === "function") &&
        typeof header === "string";
      if (!valid) return createIdempotency(idempotencyOptions);
      const metricRoutes = new Set<string>();
      const runNames = new Set<string>();
      const engine = createIdempotency({
        ...idempotencyOptions,
        store: store(inner),
        onEvent: decisionListener({
          tracer,
          instruments,
          storeName: inner.name,
          metricRoutes,
          runNames,
          next: onEvent,
        }),
        // The listener above is oncely's, not the user's: failures still go to the log the user would have had.
        logger: idempotencyOptions.logger ?? (onEvent === undefined ? console : false),
      });
      return tracedEngine(engine, { tracer, instruments, header: header.toLowerCase(), metricRoutes, runNames });
    },
  };
}
