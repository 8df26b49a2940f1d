import type { IncomingMessage, ServerResponse } from "node:http";
import { type Attributes, context, ROOT_CONTEXT, SpanKind, trace } from "@opentelemetry/api";
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";

/** An SDK with in-memory exporters: every ended span, and metrics collected on demand. */
export function createTestSdk() {
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  // Collected by hand (`reader.collect()`); the interval only has to be long enough never to fire.
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });

  async function metric(name: string) {
    const { resourceMetrics, errors } = await reader.collect();
    if (errors.length) throw errors[0];
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const data of scope.metrics) if (data.descriptor.name === name) return data;
    }
    return undefined;
  }

  return {
    spans,
    tracerProvider,
    meterProvider,
    metric,
    /** The points of a counter or up-down counter: value by attribute set. */
    async sums(name: string): Promise<{ attributes: Attributes; value: number }[]> {
      const data = await metric(name);
      return (data?.dataPoints ?? []).map((point) => ({
        attributes: point.attributes,
        value: point.value as number,
      }));
    },
    /** The points of a histogram: count by attribute set. */
    async histogram(name: string): Promise<(DataPoint<Histogram> & { unit: string })[]> {
      const data = await metric(name);
      return ((data?.dataPoints ?? []) as DataPoint<Histogram>[]).map((point) => ({
        ...point,
        unit: data!.descriptor.unit,
      }));
    },
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

/**
 * What an HTTP server instrumentation does: a SERVER span per request, active while the app handles it, ended when the
 * response is finished.
 */
export function withServerSpans(tracerProvider: BasicTracerProvider) {
  const tracer = tracerProvider.getTracer("test-http-server");
  return (app: (req: IncomingMessage, res: ServerResponse) => void) => (req: IncomingMessage, res: ServerResponse) => {
    const span = tracer.startSpan(`${req.method} ${req.url}`, { kind: SpanKind.SERVER });
    res.once("close", () => span.end());
    context.with(trace.setSpan(ROOT_CONTEXT, span), () => app(req, res));
  };
}

export const isServerSpan = (span: ReadableSpan) => span.instrumentationScope.name === "test-http-server";
export const isOncelySpan = (span: ReadableSpan) => span.instrumentationScope.name === "oncely";
export const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

/** Points equal as sets, whatever their order. */
export function sortPoints<T extends { attributes: Attributes }>(points: T[]): T[] {
  return [...points].sort((a, b) => JSON.stringify(a.attributes).localeCompare(JSON.stringify(b.attributes)));
}
