import { expect, it } from "vitest";
import { claimNow } from "../../src/core/claim-now.js";
import { MemoryStore, StoreFullError } from "../../src/index.js";
import { clock, testMemoryStore } from "./memory-suite.js";

testMemoryStore("memory", MemoryStore, () => {
  const opts = { lease: 1000, ttl: 10_000, meta: { key: "k" } };
  const response = { status: 200, headers: [], body: new Uint8Array([1]), kept: true };
  const claimed = async (store: MemoryStore, id: string, options = opts) => {
    const result = await store.claim(id, "fp", options);
    if (result.status !== "claimed") throw new Error(`${id} not claimed`);
    return result.token;
  };

  it("a first read and a first append of a stream, loading its code together, share one log", async () => {
    const store = new MemoryStore({ now: () => clock.now });
    const token = await claimed(store, "streamed");
    const [, read] = await Promise.all([
      store.appendStream("streamed", token, [new Uint8Array([1])]),
      store.readStream("streamed", token, 0, 1_000),
    ]);
    expect(read.entries).toEqual([new Uint8Array([1])]);
    await store.close();
  });

  it("refuses a new key when full and keeps every unexpired record: completed, released and in flight", async () => {
    const store = new MemoryStore({ maxEntries: 3, now: () => clock.now });
    await store.complete("done", await claimed(store, "done"), response, 10_000);
    await store.release("released", await claimed(store, "released"));
    await claimed(store, "running");
    const refused = await store.claim("new", "fp", opts).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StoreFullError);
    expect(refused).toMatchObject({ code: "store_full", status: 503, limit: "store", store: "memory" });
    expect((refused as StoreFullError).type).toBe("urn:oncely:problem:store-full");
    expect(await store.get("new")).toBeUndefined();
    expect((await store.get("done"))?.response?.body).toEqual(new Uint8Array([1]));
    expect((await store.get("released"))?.state).toBe("released");
    expect((await store.get("running"))?.state).toBe("in-flight");
    expect(store.size).toBe(3);
    await store.close();
  });

  it("still answers the keys it holds when full: replay, in flight, takeover of a released or lapsed claim", async () => {
    const store = new MemoryStore({ maxEntries: 3, now: () => clock.now });
    await store.complete("done", await claimed(store, "done"), response, 10_000);
    await store.release("released", await claimed(store, "released"));
    const first = await claimed(store, "running");
    await expect(store.claim("new", "fp", opts)).rejects.toThrow(StoreFullError);
    expect((await store.claim("done", "fp", opts)).status).toBe("completed");
    expect((await store.claim("running", "fp", opts)).status).toBe("in-flight");
    expect(await store.claim("released", "fp", opts)).toMatchObject({ status: "claimed", recovered: false });
    clock.now += 1_000; // the lease of "running" lapses
    expect(await store.claim("running", "fp", opts)).toMatchObject({ status: "claimed", recovered: true });
    expect(await store.complete("running", first, response, 10_000)).toBe(false);
    await store.close();
  });

  it("makes room from expired records before refusing, without waiting for the sweep", async () => {
    const store = new MemoryStore({ maxEntries: 2, sweepInterval: "1h", now: () => clock.now });
    await store.complete("short", await claimed(store, "short"), response, 100);
    await store.complete("long", await claimed(store, "long"), response, 10_000);
    clock.now += 100;
    await store.complete("new", await claimed(store, "new"), response, 50);
    expect(await store.get("short")).toBeUndefined();
    expect(await store.get("long")).toBeDefined();
    // An expired record's own key is new again even in a full store: it takes the expired record's place.
    clock.now += 50;
    expect(await store.claim("new", "fp", opts)).toMatchObject({ status: "claimed" });
    await expect(store.claim("other", "fp", opts)).rejects.toThrow(StoreFullError);
    await store.close();
  });

  it("says when to retry: the whole seconds until the earliest record expires", async () => {
    const store = new MemoryStore({ maxEntries: 2, now: () => clock.now });
    await store.complete("a", await claimed(store, "a"), response, 2_500);
    await claimed(store, "b", { ...opts, ttl: 60_000 });
    await expect(store.claim("c", "fp", opts)).rejects.toMatchObject({ retryAfter: 3 });
    clock.now += 2_000;
    await expect(store.claim("c", "fp", opts)).rejects.toMatchObject({ retryAfter: 1 });
    clock.now += 500;
    expect((await store.claim("c", "fp", opts)).status).toBe("claimed");
    await store.close();
  });

  it("refuses a new key to a scope at its quota while other scopes still claim, and frees its room on expiry", async () => {
    const store = new MemoryStore({ maxEntries: 10, maxEntriesPerScope: 2, now: () => clock.now });
    const of = (scope: string | undefined, ttl = 10_000) => ({ ...opts, ttl, meta: { key: "k", scope } });
    await store.complete("a1", await claimed(store, "a1", of("A", 100)), response, 100);
    await claimed(store, "a2", of("A"));
    const refused = await store.claim("a3", "fp", of("A")).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StoreFullError);
    expect(refused).toMatchObject({ code: "store_full", limit: "scope", retryAfter: 1 });
    // Another scope, and records without a scope (one scope together), still claim up to their own quota.
    await claimed(store, "b1", of("B"));
    await claimed(store, "b2", of("B"));
    await claimed(store, "n1", of(undefined));
    await claimed(store, "n2", of(undefined));
    await expect(store.claim("n3", "fp", of(undefined))).rejects.toMatchObject({ limit: "scope" });
    // The scope's own keys still answer.
    expect((await store.claim("a1", "fp", of("A"))).status).toBe("completed");
    expect((await store.claim("a2", "fp", of("A"))).status).toBe("in-flight");
    clock.now += 100; // a1 expires: A has room again
    expect((await store.claim("a3", "fp", of("A"))).status).toBe("claimed");
    await expect(store.claim("a4", "fp", of("A"))).rejects.toMatchObject({ limit: "scope" });
    expect(await store.delete("a2")).toBe(true);
    expect((await store.claim("a4", "fp", of("A"))).status).toBe("claimed");
    await store.close();
  });

  it("counts an expired record taken over under another scope against the new scope only", async () => {
    const store = new MemoryStore({ maxEntries: 10, maxEntriesPerScope: 1, now: () => clock.now });
    const of = (scope: string) => ({ ...opts, meta: { key: "k", scope } });
    await claimed(store, "x", { ...of("A"), ttl: 100 });
    clock.now += 100;
    await claimed(store, "x", of("B"));
    await expect(store.claim("b2", "fp", of("B"))).rejects.toMatchObject({ limit: "scope" });
    expect((await store.claim("a2", "fp", of("A"))).status).toBe("claimed");
    await store.close();
  });

  it("refuses an unknown option, naming it and the option it is closest to", () => {
    expect(() => new MemoryStore({ maxEntrys: 10 } as never)).toThrow(
      new TypeError("Unknown MemoryStore option `maxEntrys`; did you mean `maxEntries`?"),
    );
    expect(() => new MemoryStore({ sweep: "1m" } as never)).toThrow(/Unknown MemoryStore option `sweep`/);
  });

  it("refuses a quota or size that is not a positive integer, naming the option", () => {
    expect(() => new MemoryStore({ maxEntriesPerScope: 0 })).toThrow(/`maxEntriesPerScope` to be a positive integer/);
    expect(() => new MemoryStore({ maxEntries: 1.5 })).toThrow(/`maxEntries` to be a positive integer/);
  });

  it("sweeps a record whose expiry moved earlier at its new expiry, and one whose expiry moved later at that", async () => {
    const store = new MemoryStore({ maxEntries: 10, now: () => clock.now });
    await store.complete("earlier", await claimed(store, "earlier"), response, 100);
    await store.complete("later", await claimed(store, "later", { ...opts, ttl: 100 }), response, 5_000);
    clock.now += 100;
    expect(await store.purgeExpired()).toBe(1);
    expect(store.size).toBe(1);
    clock.now += 4_900;
    expect(await store.purgeExpired()).toBe(1);
    expect(store.size).toBe(0);
    await store.close();
  });

  it("answers the engine's claim of a found record with the same fingerprint, token, expiry and response", async () => {
    const store = new MemoryStore({ now: () => clock.now });
    const full = {
      ...opts,
      meta: { key: "k", scope: "s", method: "POST", path: "/é" },
      work: { name: "charge", input: '{"amount":1}' },
    };
    const token = await claimed(store, "found", full);
    await store.saveStep("found", token, { name: "first", seq: 0, state: "done", value: '"ü"' });
    await store.saveStep("found", token, { name: "second", seq: 1, state: "started" });
    const stored = {
      status: 201,
      headers: [["x-name", "naïve"]] as [string, string][],
      body: new Uint8Array([0, 255]),
      kept: true,
    };
    await store.complete("found", token, stored, 10_000);
    const whole = await store.claim("found", "fp", full);
    if (whole.status !== "completed") throw new Error("should be completed");
    for (const fingerprint of ["fp", "another"]) {
      const answer = store[claimNow]("found", fingerprint, full);
      if (answer.status !== "completed") throw new Error("should be completed");
      const { fingerprint: stored, token, expiresAt, response } = whole.record;
      expect(answer.record).toEqual({ fingerprint: stored, token, expiresAt, response });
    }
    await store.close();
  });

  it("answers the engine's claim as claim does, at every body size around the slab's cut and after a rewrite", async () => {
    const store = new MemoryStore({ now: () => clock.now });
    const pattern = (size: number) => Uint8Array.from({ length: size }, (_, i) => (i * 131 + 7) & 255);
    const run = { ...opts, work: { name: "charge", input: "{}" } };
    for (const size of [0, 1, 4096, 4097, 70_000]) {
      for (const kept of [true, false]) {
        const id = `sized-${size}-${kept}`;
        const first = await claimed(store, id, run);
        // A step saved (the record encoded again, whole), the lease lapsed and taken over: the response goes after it.
        await store.saveStep(id, first, { name: "a", seq: 0, state: "done", value: '"é"' });
        clock.now += opts.lease;
        const token = await claimed(store, id, run);
        const headers: [string, string][] = [["x-naïve", "värde"]];
        await store.complete(id, token, { status: 599, headers, body: pattern(size), kept }, 10_000);
        await store.countReplays(new Map([[id, 2]]));
        for (const fingerprint of ["fp", "another"]) {
          const whole = await store.claim(id, fingerprint, run);
          const answer = store[claimNow](id, fingerprint, run);
          if (whole.status !== "completed" || answer.status !== "completed") throw new Error("should be completed");
          const { response, ...found } = answer.record;
          expect(found).toEqual({ fingerprint: "fp", token, expiresAt: whole.record.expiresAt });
          // Compared in one call: an element-wise comparison of 70,000 bytes takes seconds.
          expect(Buffer.compare(response!.body, pattern(size))).toBe(0);
          expect(Buffer.compare(whole.record.response!.body, pattern(size))).toBe(0);
          expect({ ...response, body: undefined }).toEqual({ status: 599, headers, body: undefined, kept });
        }
      }
    }
    await store.close();
  });
});
