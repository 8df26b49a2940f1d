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

    it("keeps evicting the oldest completed record through deletes, and keeps released ones while it can", async () => {
      const store = new MemoryStore({ maxEntries: 10, now: () => now });
      const opts = { lease: 1000, ttl: 10_000, meta: { key: "k" } };
      const response = { status: 200, headers: [], body: new Uint8Array(), kept: true };
      const run = async (id: string, end: "complete" | "release") => {
        const claim = await store.claim(id, "fp", opts);
        if (claim.status !== "claimed") throw new Error(`${id} not claimed`);
        if (end === "complete") await store.complete(id, claim.token, response, 10_000);
        else await store.release(id, claim.token);
      };
      const held = async () => {
        const ids: string[] = [];
        for (let i = 0; i < 300; i++) if (await store.get(`r${i}`)) ids.push(`r${i}`);
        return ids;
      };
      for (let i = 0; i < 250; i++) {
        await run(`r${i}`, "complete");
        if (i % 7 === 3) await store.delete(`r${i - 2}`);
        expect(store.size).toBeLessThanOrEqual(10);
      }
      // The newest ten completed, less the deleted r239 and r246.
      expect(await held()).toEqual([238, 240, 241, 242, 243, 244, 245, 247, 248, 249].map((i) => `r${i}`));
      // Released records stay while a completed one can go instead.
      await run("r250", "release");
      await run("r251", "release");
      for (let i = 260; i < 269; i++) await run(`r${i}`, "complete");
      expect(await held()).toEqual(["r250", "r251", ...Array.from({ length: 8 }, (_, i) => `r${261 + i}`)]);
      await store.close();
    });

    it("evicts the oldest released record when no completed one is left, and an expired record before either", async () => {
      const store = new MemoryStore({ maxEntries: 3, now: () => now });
      const opts = { lease: 1000, ttl: 10_000, meta: { key: "k" } };
      const claim = async (id: string, ttl = 10_000) => {
        const result = await store.claim(id, "fp", { ...opts, ttl });
        if (result.status !== "claimed") throw new Error(`${id} not claimed`);
        return result.token;
      };
      await store.release("a", await claim("a"));
      await store.release("b", await claim("b"));
      await claim("c");
      await claim("d");
      expect(await store.get("a")).toBeUndefined();
      // b, taken again and released again, is now the newest released record: still the only one to evict.
      await store.release("b", await claim("b"));
      await claim("e");
      expect(await store.get("b")).toBeUndefined();
      await expect(store.claim("f", "fp", opts)).rejects.toThrow(/memory.*full/);

      const expiring = new MemoryStore({ maxEntries: 2, now: () => now });
      const x = await expiring.claim("x", "fp", { ...opts, ttl: 100 });
      const y = await expiring.claim("y", "fp", opts);
      if (y.status !== "claimed" || x.status !== "claimed") throw new Error("not claimed");
      await expiring.complete("y", y.token, { status: 200, headers: [], body: new Uint8Array(), kept: true }, 10_000);
      now += 200;
      expect((await expiring.claim("z", "fp", opts)).status).toBe("claimed");
      expect(await expiring.get("y")).toBeDefined();
      await expiring.close();
      await store.close();
    });
  },
});
