// The Express app of the OpenTelemetry benchmark, in its own process, plain JavaScript over the built package
// (`npm run build`). Configurations:
//   oncely       oncely on the memory store; OpenTelemetry never loaded
//   sdk          the same, with the OpenTelemetry SDK registered (tracer and meter providers, async context) and a
//                SERVER span per request, as an HTTP instrumentation makes; oncely not instrumented
//   oncely-otel  the same SDK and server spans, and oncely instrumented through oncely/otel: spans to a no-op
//                exporter, metrics to a no-op exporter every 60 s
import { createServer } from "node:http";
import express from "express";
import { idempotency } from "../dist/adapters/express/index.js";
import { createIdempotency, MemoryStore } from "../dist/index.js";

const [configuration] = process.argv.slice(2);

async function registerSdk() {
  const { context, metrics, ROOT_CONTEXT, SpanKind, trace } = await import("@opentelemetry/api");
  const { AsyncLocalStorageContextManager } = await import("@opentelemetry/context-async-hooks");
  const { BasicTracerProvider, BatchSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } = await import(
    "@opentelemetry/sdk-metrics"
  );
  let spans = 0;
  const spanExporter = {
    export(batch, done) {
      spans += batch.length;
      done({ code: 0 });
    },
    shutdown: async () => {},
  };
  const metricExporter = {
    export(_metrics, done) {
      done({ code: 0 });
    },
    selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(spanExporter)] });
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(
    new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: metricExporter })] }),
  );
  const tracer = tracerProvider.getTracer("bench-http-server");
  return {
    // What @opentelemetry/instrumentation-http does at the least: a SERVER span, active while the app handles the
    // request, ended when the response is finished.
    withServerSpans: (app) => (req, res) => {
      const span = tracer.startSpan(`${req.method}`, { kind: SpanKind.SERVER, attributes: { "url.path": req.url } });
      res.once("finish", () => span.end());
      context.with(trace.setSpan(ROOT_CONTEXT, span), () => app(req, res));
    },
    exported: async () => {
      await tracerProvider.forceFlush();
      return spans;
    },
  };
}

const sdk = configuration === "oncely" ? undefined : await registerSdk();
const options = { store: new MemoryStore(), rateLimit: false, ttl: "5m" };
let idem;
if (configuration === "oncely-otel") {
  const { createTelemetry } = await import("../dist/otel/index.js");
  idem = createTelemetry().createIdempotency(options);
} else {
  idem = createIdempotency(options);
}

let n = 0;
const app = express();
app.post("/charges", express.json(), idempotency(idem, { route: "POST /charges" }), (req, res) => {
  res.status(201).json({ id: `ch_${++n}`, amount: req.body?.amount ?? 0, currency: "eur" });
});
// An ephemeral port, told to the parent: a port picked at random can be taken by another process on a shared machine.
const server = createServer(sdk ? sdk.withServerSpans(app) : app).listen(0, "127.0.0.1");
server.on("listening", () => process.send?.({ port: server.address().port }));
process.on("message", async (message) => {
  if (message !== "stats") return;
  const spans = sdk ? await sdk.exported() : 0;
  const { user, system } = process.cpuUsage();
  process.send?.({ spans, cpu: user + system });
});
process.on("disconnect", () => {
  server.close();
  process.exit(0);
});
