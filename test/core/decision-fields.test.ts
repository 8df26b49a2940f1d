import { createHash, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decisionFields, decisionLevel, type IdempotencyEvent, StoreTimeoutError } from "../../src/index.js";

const event = (extra: Partial<IdempotencyEvent> = {}): IdempotencyEvent => ({
  type: "replayed",
  route: "POST /charges",
  key: "order-4711",
  duration: 0.41234,
  storeDuration: 0.0914,
  status: 201,
  ...extra,
});

describe("decisionFields", () => {
  it("names a decision's fields as the span attributes, with the key as the first 16 hex of its SHA-256", () => {
    const keyHash = createHash("sha256").update("order-4711").digest("hex").slice(0, 16);
    expect(decisionFields(event())).toEqual({
      decision: "replayed",
      route: "POST /charges",
      key_hash: keyHash,
      status: 201,
      duration_ms: 0.412,
      store_duration_ms: 0.091,
    });
    expect(decisionFields(event(), { rawKey: true })).toMatchObject({ key: "order-4711", key_hash: keyHash });
    for (let i = 0; i < 500; i++) {
      const key = `${randomUUID()}-${i}`;
      const expected = createHash("sha256").update(key).digest("hex").slice(0, 16);
      expect(decisionFields(event({ key })).key_hash).toBe(expected);
    }
  });

  it("carries the scope hash, token and reason, and an error's code or class name but never its message", () => {
    const stored = decisionFields(
      event({
        type: "store-error",
        scope: "a1b2c3",
        token: 7,
        reason: "complete failed",
        error: new TypeError("card 4242"),
      }),
    );
    expect(stored).toMatchObject({
      scope_hash: "a1b2c3",
      token: 7,
      reason: "complete failed",
      error_type: "TypeError",
    });
    expect(JSON.stringify(stored)).not.toContain("4242");
    const timedOut = new StoreTimeoutError("redis", "claim", "timed out after 1000 ms");
    expect(decisionFields(event({ type: "store-error", error: timedOut })).error_type).toBe("store_timeout");
    expect(decisionFields(event({ type: "invalid", key: undefined, status: undefined }))).not.toHaveProperty(
      "key_hash",
    );
  });

  it("levels store errors as errors, fenced results and aborted uploads as warnings, everything else as info", () => {
    expect(decisionLevel("store-error")).toBe("error");
    expect(decisionLevel("fenced")).toBe("warn");
    expect(decisionLevel("client-aborted")).toBe("warn");
    for (const type of ["executed", "replayed", "conflict", "mismatch", "released", "rate-limited"] as const) {
      expect(decisionLevel(type)).toBe("info");
    }
  });
});
