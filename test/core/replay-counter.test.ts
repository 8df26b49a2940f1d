import { describe, expect, it } from "vitest";
import { createIdempotency, MemoryStore } from "../../src/index.js";

describe("replay counts", () => {
  it("counts replays per record, batched off the request path, written at the latest on close()", async () => {
    const store = new MemoryStore();
    const idem = createIdempotency({ store });
    await idem.run("job-1", () => "done");
    for (let i = 0; i < 3; i++) expect(await idem.run("job-1", () => "again")).toBe("done");
    await idem.run("job-2", () => "other");
    await idem.close();
    const [first, second] = (await store.list()).records.sort((a, b) => a.meta.key.localeCompare(b.meta.key));
    expect(first?.replays).toBe(3);
    expect(second?.replays ?? 0).toBe(0);
  });

  it("never fails or delays a replay when the store cannot write its count", async () => {
    const store = new MemoryStore();
    store.countReplays = () => Promise.reject(new Error("store down"));
    const idem = createIdempotency({ store });
    await idem.run("job-1", () => "done");
    expect(await idem.run("job-1", () => "again")).toBe("done");
    await expect(idem.close()).resolves.toBeUndefined();
  });

  it("writes a batch early once a thousand keys are pending", async () => {
    const store = new MemoryStore();
    const writes: number[] = [];
    const count = store.countReplays.bind(store);
    store.countReplays = (counts) => {
      writes.push(counts.size);
      return count(counts);
    };
    const idem = createIdempotency({ store, rateLimit: false });
    const keys = Array.from({ length: 1_001 }, (_, i) => `job-${i}`);
    for (const key of keys) await idem.run(key, () => key);
    for (const key of keys) await idem.run(key, () => "never");
    expect(writes).toEqual([1_000]);
    await idem.close();
    expect(writes).toEqual([1_000, 1]);
  });
});
