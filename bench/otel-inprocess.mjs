// oncely's own work per request, without HTTP: `guard.begin` then `finish`, as an adapter calls them, inside a SERVER
// span where the SDK is on. Best of several samples: contention on a shared machine only ever slows a sample down.
// Prints {"newKeys": µs, "replays": µs} for the configuration named by the first argument (see otel-server.mjs).
import { randomUUID } from "node:crypto";
import { createIdempotency, MemoryStore } from "../dist/index.js";

const [configuration] = process.argv.slice(2);
const samples = 9;
const perSample = 10_000;

let withServerSpan = (work) => work();
if (configuration !== "oncely") {
  const { context, metrics, ROOT_CONTEXT, SpanKind, trace } = await import("@opentelemetry/api");
  const { AsyncLocalStorageContextManager } = await import("@opentelemetry/context-async-hooks");
  const { BasicTracerProvider, BatchSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } = await import(
    "@opentelemetry/sdk-metrics"
  );
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const spanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(spanExporter)] });
  trace.setGlobalTracerProvider(tracerProvider);
  const metricExporter = {
    export: (_metrics, done) => done({ code: 0 }),
    selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  metrics.setGlobalMeterProvider(
    new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: metricExporter })] }),
  );
  const tracer = tracerProvider.getTracer("bench-http-server");
  withServerSpan = async (work) => {
    const span = tracer.startSpan("POST", { kind: SpanKind.SERVER });
    await context.with(trace.setSpan(ROOT_CONTEXT, span), work);
    span.end();
  };
}

const options = { store: new MemoryStore(), rateLimit: false, ttl: "5m" };
let idem;
if (configuration === "oncely-otel") {
  const { createTelemetry } = await import("../dist/otel/index.js");
  idem = createTelemetry().createIdempotency(options);
} else {
  idem = createIdempotency(options);
}
const guard = idem.route({ route: "POST /charges" });
const body = new TextEncoder().encode('{"amount":1000,"currency":"eur"}');
const response = { status: 201, headers: [["content-type", "application/json"]], body };

function request(key) {
  return withServerSpan(async () => {
    const decision = await guard.begin({
      method: "POST",
      path: "/charges",
      query: "",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body,
      raw: undefined,
    });
    if (decision.action === "execute") await decision.finish(response);
  });
}

async function best(nextKey) {
  let fastest = Number.POSITIVE_INFINITY;
  for (let sample = 0; sample < samples; sample++) {
    const start = performance.now();
    for (let i = 0; i < perSample; i++) await request(nextKey());
    fastest = Math.min(fastest, ((performance.now() - start) / perSample) * 1000);
  }
  return fastest;
}

for (let i = 0; i < perSample; i++) await request(randomUUID());
await request("replayed-key");
const newKeys = await best(() => randomUUID());
const replays = await best(() => "replayed-key");
process.stdout.write(`${JSON.stringify({ newKeys, replays })}\n`);
process.exit(0);
