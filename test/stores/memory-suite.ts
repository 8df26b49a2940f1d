import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MemoryStore } from "../../src/index.js";
import { testStore } from "../../src/testing/index.js";

/** The memory stores' shared clock: tests move it forward instead of sleeping. */
export const clock = { now: 1_700_000_000_000 };

/**
 * Runs the store conformance suite and the record-encoding test on a MemoryStore class, as `oncely` exports it or as
 * a runtime without Node's built-in modules loads it (its records are then encoded by plain loops), plus `more`.
 */
export function testMemoryStore(name: string, Store: typeof MemoryStore, more: () => void = () => {}): void {
  testStore({
    name,
    create: () => new Store({ now: () => clock.now }),
    advance: (ms) => {
      clock.now += ms;
    },
    test: { describe, it, expect, beforeAll, afterAll },
    steps: true,
    streams: true,
    replayCounts: true,
    aggregate: true,
    additionalTests: () => {
      it("keeps every string exactly, non-ASCII and lone surrogates included, and a body of every byte value", async () => {
        const store = new Store({ now: () => clock.now });
        const odd = "ü€😀\ud800 end";
        const meta = { key: odd, scope: odd, method: "POST", path: odd };
        const result = await store.claim("odd", odd, { lease: 1000, ttl: 10_000, meta });
        if (result.status !== "claimed") throw new Error("not claimed");
        await store.saveStep("odd", result.token, { name: "s", seq: 0, state: "done", value: JSON.stringify(odd) });
        const body = Uint8Array.from({ length: 10_000 }, (_, i) => i % 256);
        await store.complete("odd", result.token, { status: 201, headers: [["x-odd", odd]], body, kept: true }, 10_000);
        const record = await store.get("odd");
        expect(record).toMatchObject({ fingerprint: odd, meta });
        expect(record?.steps).toEqual([{ name: "s", seq: 0, state: "done", value: JSON.stringify(odd) }]);
        expect(record?.response).toEqual({ status: 201, headers: [["x-odd", odd]], body, kept: true });
        await store.close();
      });
      more();
    },
  });
}
