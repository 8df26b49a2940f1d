import type { Attributes, Histogram, Meter } from "@opentelemetry/api";
import {
  METRIC_ONCELY_DECISIONS,
  METRIC_ONCELY_REQUESTS_ACTIVE,
  METRIC_ONCELY_STORE_OPERATION_DURATION,
} from "./names.js";

/** The instruments oncely records into, created once per telemetry. */
export interface Instruments {
  /** `oncely.decisions`, tallied here and reported as a counter at each collection. */
  decisions: Tally;
  storeOperationDuration: Histogram;
  /** `oncely.requests.active`, tallied here and reported as an up-down counter at each collection. */
  requestsActive: Tally;
}

/** The count of one attribute set. */
export interface TallySlot {
  count: number;
}

/**
 * Counts kept in this process per attribute set, reported by an asynchronous instrument when metrics are collected.
 * A synchronous instrument costs an SDK recording per request (the attribute set sorted and serialised to find its
 * series); a slot kept by the caller costs an addition, and the value is only read once per export interval.
 */
export class Tally {
  readonly #slots = new Map<string, TallySlot & { attributes: Attributes }>();

  /** The slot of one attribute set, shared by every caller with equal attributes: keep it, change its `count`. */
  slot(attributes: Attributes): TallySlot {
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
  const decisions = new Tally();
  meter
    .createObservableCounter(METRIC_ONCELY_DECISIONS, {
      description: "Idempotency decisions taken (executed, replayed, conflict, ...), one per event",
      unit: "{decision}",
    })
    .addCallback((result) => decisions.observe((value, attributes) => result.observe(value, attributes)));
  const requestsActive = new Tally();
  meter
    .createObservableUpDownCounter(METRIC_ONCELY_REQUESTS_ACTIVE, {
      description: "Guarded requests oncely is working on: from its first step to its decision, the handler included",
      unit: "{request}",
    })
    .addCallback((result) => requestsActive.observe((value, attributes) => result.observe(value, attributes)));
  return {
    decisions,
    storeOperationDuration: meter.createHistogram(METRIC_ONCELY_STORE_OPERATION_DURATION, {
      description: "Duration of idempotency store operations",
      unit: "s",
      advice: { explicitBucketBoundaries: STORE_DURATION_BOUNDARIES },
    }),
    requestsActive,
  };
}
