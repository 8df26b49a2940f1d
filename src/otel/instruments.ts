import type { Counter, Histogram, Meter, UpDownCounter } from "@opentelemetry/api";
import {
  METRIC_ONCELY_DECISIONS,
  METRIC_ONCELY_REQUESTS_ACTIVE,
  METRIC_ONCELY_STORE_OPERATION_DURATION,
} from "./names.js";

/** The three instruments oncely records into, created once per telemetry. */
export interface Instruments {
  decisions: Counter;
  storeOperationDuration: Histogram;
  requestsActive: UpDownCounter;
}

// Store operations range from microseconds (memory) to seconds (a slow network); the SDK's default boundaries are
// meant for milliseconds and would put every operation in the first bucket. Honoured by SDKs that read `advice`
// (@opentelemetry/api >= 1.7); a View configured by the user wins.
const STORE_DURATION_BOUNDARIES = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export function createInstruments(meter: Meter): Instruments {
  return {
    decisions: meter.createCounter(METRIC_ONCELY_DECISIONS, {
      description: "Idempotency decisions taken (executed, replayed, conflict, ...), one per event",
      unit: "{decision}",
    }),
    storeOperationDuration: meter.createHistogram(METRIC_ONCELY_STORE_OPERATION_DURATION, {
      description: "Duration of idempotency store operations",
      unit: "s",
      advice: { explicitBucketBoundaries: STORE_DURATION_BOUNDARIES },
    }),
    requestsActive: meter.createUpDownCounter(METRIC_ONCELY_REQUESTS_ACTIVE, {
      description: "Guarded requests oncely is working on: from its first step to its decision, the handler included",
      unit: "{request}",
    }),
  };
}
