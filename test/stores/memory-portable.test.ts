import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

/**
 * The MemoryStore where Node's built-in modules are out of reach (browsers, edge runtimes): its records are encoded
 * by plain loops instead of Node's buffer methods, and must behave the same. The store module is loaded afresh with
 * `process.getBuiltinModule` hidden, as such a runtime has none; the suite too, so both share one set of error classes.
 */
const hidden = process.getBuiltinModule;
(process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
vi.resetModules();
const { MemoryStore } = await import("../../src/stores/memory.js");
const { testStore } = await import("../../src/testing/index.js");
process.getBuiltinModule = hidden;

let now = 1_700_000_000_000;
testStore({
  name: "memory, without Node's built-in modules",
  create: () => new MemoryStore({ now: () => now }),
  advance: (ms) => {
    now += ms;
  },
  test: { describe, it, expect, beforeAll, afterAll },
  steps: true,
  replayCounts: true,
  additionalTests: () => {
    it("keeps non-ASCII strings, lone surrogates and a body of every byte value exactly", async () => {
      const store = new MemoryStore({ now: () => now });
      const odd = "ü€😀\ud800 end";
      const options = { lease: 1000, ttl: 10_000, meta: { key: odd, scope: odd, method: "POST", path: odd } };
      const result = await store.claim("odd", odd, options);
      if (result.status !== "claimed") throw new Error("not claimed");
      const body = Uint8Array.from({ length: 10_000 }, (_, i) => i % 256);
      await store.complete("odd", result.token, { status: 201, headers: [["x-odd", odd]], body, kept: true }, 10_000);
      const record = await store.get("odd");
      expect(record).toMatchObject({ fingerprint: odd, meta: options.meta });
      expect(record?.response).toEqual({ status: 201, headers: [["x-odd", odd]], body, kept: true });
      await store.close();
    });
  },
});
