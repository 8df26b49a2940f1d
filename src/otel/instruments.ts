import type { Attributes, Counter, Histogram, Meter } from "@opentelemetry/api";
import {
  METRIC_ONCELY_DECISIONS,
  METRIC_ONCELY_REQUESTS_ACTIVE,
  METRIC_ONCELY_STORE_OPERATION_DURATION,
} from "./names.js";

/** The three instruments oncely records into, created once per telemetry. */
export interface Instruments {
  decisions: Counter;
  storeOperationDuration: Histogram;
  requestsActive: ActiveRequests;
}

/** The in-flight count of one attribute set. */
export interface ActiveSlot {
  count: number;
}

/**
 * Requests in flight, tallied in this process and reported when metrics are collected: an asynchronous up-down
 * counter. A synchronous one would cost two SDK recordings per request (attributes hashed each time) for a value
 * that is only read every export interval.
 */
export class ActiveRequests {
  readonly #slots = new Map<string, ActiveSlot & { attributes: Attributes }>();

  /** The tally of one attribute set, shared by every caller with equal attributes; keep it and change `count`. */
  slot(attributes: Attributes): ActiveSlot {
    const id = JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : 1)));
    let slot = this.#slots.get(id);
    if (!slot) {
      slot = { attributes, count: 0 };
      this.#slots.set(id, slot);
    }
    return slot;
  }

  observe(report: (value: number, attributes: Attributes) => void): void {
    for (const { count, attributes } of this.#slots.values()) report(count, attributes);
  }
}

// Store operations range from microseconds (memory) to seconds (a slow network); the SDK's default boundaries are
// meant for milliseconds and would put every operation in the first bucket. Honoured by SDKs that read `advice`
// (@opentelemetry/api >= 1.7); a View configured by the user wins.
const STORE_DURATION_BOUNDARIES = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export function createInstruments(meter: Meter): Instruments {
  const requestsActive = new ActiveRequests();
  meter
    .createObservableUpDownCounter(METRIC_ONCELY_REQUESTS_ACTIVE, {
      description: "Guarded requests oncely is working on: from its first step to its decision, the handler included",
      unit: "{request}",
    })
    .addCallback((result) => requestsActive.observe((value, attributes) => result.observe(value, attributes)));
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
    requestsActive,
  };
}
