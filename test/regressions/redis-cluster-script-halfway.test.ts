import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../../src/stores/redis/index.js";
import { keySlot } from "../../src/stores/redis/record-index.js";
import { clusterAvailable, clusterForTests } from "../support/redis-cluster.js";
import { until } from "../support/until.js";

// Found by the slot-migration test (test/reliability/cluster-migration.test.ts) and Redis's own rules for a slot being
// migrated: the source node runs a script only when it holds every key the script declares, but then checks each
// command inside it again, and refuses one on a key it no longer holds. A key the script itself deleted counts. The
// claim of an expired id deleted the old record and wrote it anew (DEL, then HSET): on the source, the HSET was
// refused after the DEL had run, and the claim failed halfway ("Script attempted to access a non local key"). The
// claim also emptied a state set of the index and could read it again in the same script, and purgeExpired read
// records it had not declared, which may have moved already. Now no script touches a key after a command that may
// have deleted it, and purge reads everything before its first write, answering TRYAGAIN (retried by the store) when
// a record has moved.
describe.skipIf(!(await clusterAvailable()))("regression: a script half-run on the node a slot is leaving", () => {
  const started = clusterForTests();
  const lasting = { lease: 60_000, ttl: 120_000, meta: { key: "k" } };
  const ok = { status: 201, headers: [] as [string, string][], body: new Uint8Array([1]), kept: true };

  /** A store whose ids `<tag>}<n>` all share one slot (the tag's), with its index. */
  function slotStore(tag: string) {
    const prefix = `oncely-halfway:${randomUUID().slice(0, 8)}:`;
    const id = (n: number) => `${tag}}${n}`;
    return {
      store: new RedisStore({ client: started.client, prefix }),
      slot: keySlot(tag),
      id,
      key: (n: number) => `${prefix}{${id(n)}}`,
    };
  }

  it("claims an expired id whole on the source, its record and every index set still there", async () => {
    const { store, slot, id } = slotStore("expired");
    // Every index set of the slot exists: a claim on the source needs all its keys there.
    const expired = (await store.claim(id(1), "fp", { ...lasting, ttl: 50 })) as { token: number };
    await store.complete(id(1), expired.token, ok, 50);
    await store.claim(id(2), "fp", lasting);
    const released = (await store.claim(id(3), "fp", lasting)) as { token: number };
    await store.release(id(3), released.token);
    await until(async () => (await store.get(id(1))) === undefined, "the completed record to expire");

    const migration = await started.cluster.beginMigration(slot);
    const claim = await store.claim(id(1), "fp", lasting);
    await migration.finish();

    expect(claim).toMatchObject({ status: "claimed", recovered: false });
    expect(await store.get(id(1))).toMatchObject({ state: "in-flight", replays: 0 });
    expect((await store.get(id(1)))?.response).toBeUndefined();
    expect((await store.aggregate()).states).toEqual({ "in-flight": 2, released: 1, completed: 0 });
  });

  it("purges on the source with a record already moved: refused until the move ends, then whole", async () => {
    const { store, slot, id, key } = slotStore("purge");
    for (let n = 1; n <= 3; n++) {
      const claim = (await store.claim(id(n), "fp", { ...lasting, ttl: 50 })) as { token: number };
      await store.complete(id(n), claim.token, ok, 50);
    }
    await store.claim(id(4), "fp", lasting);
    const released = (await store.claim(id(5), "fp", lasting)) as { token: number };
    await store.release(id(5), released.token);
    await until(async () => (await store.get(id(3))) === undefined, "the completed records to expire");

    const migration = await started.cluster.beginMigration(slot);
    await migration.moveKeys([key(2)]);
    const refused = (await started.cluster.serverStats()).errors.TRYAGAIN ?? 0;
    const purging = store.purgeExpired();
    await until(
      async () => ((await started.cluster.serverStats()).errors.TRYAGAIN ?? 0) > refused,
      "the purge to be refused",
    );
    await migration.finish();

    expect(await purging).toBe(3);
    expect((await store.aggregate()).states).toEqual({ "in-flight": 1, released: 1, completed: 0 });
    expect((await store.list()).records.map((record) => record.id).sort()).toEqual([id(4), id(5)]);
    expect(await started.client.exists(key(1), key(2), key(3))).toBe(0);
  });
});
