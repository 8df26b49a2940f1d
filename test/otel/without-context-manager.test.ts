import { context, trace } from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTelemetry, keyHash } from "../../src/otel/index.js";
import { driveEveryDecision, EVERY_STATUS, startDecisionApp } from "../support/decision-app.js";
import { createTestSdk, isOncelySpan, sortPoints } from "./harness.js";

const DECISIONS_BUT_RECOVERED = [
  "executed",
  "replayed",
  "mismatch",
  "invalid",
  "too-large",
  "executed",
  "rate-limited",
  "released",
  "store-error",
  "conflict",
  "executed",
  "executed",
  "fenced",
  "executed",
];

// No context manager: nothing carries context across `await`, as in a process where the SDK was set up without one.
beforeAll(() => {
  context.disable();
  trace.disable();
});

describe("oncely/otel without a context manager: each decision still becomes one span, built from its event", () => {
  const sdk = createTestSdk();
  afterAll(() => sdk.shutdown());

  it("one span per decision, timed by the event's duration; no duplicate from the engine wrapper", async () => {
    const telemetry = createTelemetry({ tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider });
    const app = await startDecisionApp((options) => telemetry.createIdempotency(options));
    try {
      const driven = await driveEveryDecision(app);
      const spans = sdk.spans.getFinishedSpans().filter(isOncelySpan);
      const requests = spans.filter((span) => !span.name.startsWith("oncely.store "));
      expect(requests.map((span) => span.attributes["oncely.decision"]).sort()).toEqual(
        [...DECISIONS_BUT_RECOVERED].sort(),
      );
      for (const span of requests) {
        const seconds = span.duration[0] + span.duration[1] / 1e9;
        expect(Math.abs(seconds - (span.attributes["oncely.duration"] as number))).toBeLessThan(0.001);
        expect(span.attributes["oncely.store.name"]).toBe("memory");
      }
      const charge = requests.filter((span) => span.attributes["oncely.key_hash"] === keyHash(driven.keys.charge));
      expect(charge.map((span) => span.name)).toEqual([
        "oncely POST /charges",
        "oncely POST /charges",
        "oncely POST /charges",
      ]);
      const tooLarge = requests.find((span) => span.attributes["oncely.decision"] === "too-large");
      expect(tooLarge?.name).toBe("oncely POST");
      // Store operations are spans of their own, parented to what was active: nothing, here.
      const claims = spans.filter((span) => span.name === "oncely.store claim");
      expect(claims.length).toBe(10);
      for (const claim of claims) expect(claim.parentSpanContext).toBeUndefined();

      const decisions = await sdk.sums("oncely.decisions");
      expect(decisions.reduce((sum, point) => sum + point.value, 0)).toBe(DECISIONS_BUT_RECOVERED.length + 1);
      const active = await sdk.sums("oncely.requests.active");
      expect(sortPoints(active).map((point) => point.value)).toEqual(active.map(() => 0));
    } finally {
      await app.close();
    }
  });
});

describe("oncely/otel with no SDK at all", () => {
  it("answers every decision as the engine does: the API's no-op tracer and meter record nothing", async () => {
    const telemetry = createTelemetry();
    const app = await startDecisionApp((options) => telemetry.createIdempotency(options));
    try {
      const { statuses } = await driveEveryDecision(app);
      expect(statuses).toEqual(EVERY_STATUS);
    } finally {
      await app.close();
    }
  });
});
