import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/index.js";
import { testStore } from "../../src/testing/index.js";

let now = 1_700_000_000_000;
testStore({
  name: "memory",
  create: () => new MemoryStore({ now: () => now }),
  advance: (ms) => {
    now += ms;
  },
  test: { describe, it, expect, beforeAll, afterAll },
  steps: true,
  replayCounts: true,
  additionalTests: () => {
    it("evicts completed records first when full, and refuses a claim when only live claims remain", async () => {
      const store = new MemoryStore({ maxEntries: 2, now: () => now });
      const opts = { lease: 1000, ttl: 10_000, meta: { key: "k" } };
      const a = await store.claim("a", "fp", opts);
      if (a.status !== "claimed") throw new Error("a not claimed");
      await store.complete("a", a.token, { status: 200, headers: [], body: new Uint8Array(), kept: true }, 10_000);
      await store.claim("b", "fp", opts);
      expect((await store.claim("c", "fp", opts)).status).toBe("claimed");
      expect(await store.get("a")).toBeUndefined();
      expect(await store.get("b")).toBeDefined();
      await expect(store.claim("d", "fp", opts)).rejects.toThrow(/memory.*full/);
      await store.close();
    });
  },
});
