import { randomUUID } from "node:crypto";
import type { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClaimResult } from "../../src/core/store.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { keySlot } from "../../src/stores/redis/record-index.js";
import { testStore } from "../../src/testing/index.js";
import { clusterAvailable, type RedisCluster, startRedisCluster } from "../support/redis-cluster.js";

// RedisStore on a real Redis Cluster of three masters (started here, on ports of its own): the conformance suite
// (every script touches keys of one slot only: a record and its slot's index; list, aggregate and purge walk every
// slot's index), then claims racing a slot migration.

const prefix = () => `oncely-cluster:${randomUUID().slice(0, 8)}:`;
async function listAll(store: RedisStore): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({ limit: 7, ...(cursor ? { cursor } : {}) });
    seen.push(...page.records.map((record) => record.id));
    cursor = page.cursor;
  } while (cursor);
  return seen;
}

const ok = { status: 201, headers: [] as [string, string][], body: new Uint8Array([1, 2, 3]), kept: true };

if (await clusterAvailable()) {
  let cluster: RedisCluster;
  let client: Cluster;
  const ready = (async () => {
    cluster = await startRedisCluster();
    client = cluster.client();
  })();
  beforeAll(() => ready, 60_000);
  afterAll(async () => {
    await ready.catch(() => {});
    client?.disconnect();
    await cluster?.stop();
  });

  testStore({
    name: "redis (Cluster, 3 masters)",
    create: async () => {
      await ready;
      return new RedisStore({ client, prefix: prefix() });
    },
    test: { describe, it, expect, beforeAll, afterAll },
    // A walk over the Cluster asks every master (~0.1 s on a loaded machine): records must outlive a few of them.
    timing: { lease: 600, ttl: 3_000 },
    steps: true,
    replayCounts: true,
    aggregate: true,
    additionalTests: () => {
      it("keeps each record's index in the record's own slot, and lists records of every master", async () => {
        await ready;
        const keyPrefix = prefix();
        const store = new RedisStore({ client, prefix: keyPrefix });
        const ids = Array.from({ length: 40 }, (_, n) => `id-${n}`);
        for (const id of ids) await store.claim(id, "fp", { lease: 1000, ttl: 10_000, meta: { key: id } });
        const indexes = (
          await Promise.all(client.nodes("master").map((node) => node.keys(`${keyPrefix}{index:*`)))
        ).flat();
        for (const key of indexes) {
          const members = key.endsWith(":created") ? await client.zrange(key, "0", "-1") : [];
          const slot = keySlot(/\{([^}]*)\}/.exec(key)![1]!);
          for (const id of members) expect(keySlot(id)).toBe(slot);
        }
        expect(indexes.filter((key) => key.endsWith(":created")).length).toBeGreaterThan(1);
        expect((await listAll(store)).sort()).toEqual([...ids].sort());
        expect((await store.aggregate()).states["in-flight"]).toBe(40);
      });
    },
  });

  describe("redis (Cluster): claims while their slot migrates", () => {
    it("grants each key exactly once and loses none, through ASK, TRYAGAIN and MOVED", async () => {
      await ready;
      const store = new RedisStore({ client, prefix: prefix() });
      // Every id carries the hash tag "m" (the record key is `<prefix>{m}<n>}`), so all of them sit in one slot,
      // the one being moved.
      const ids = Array.from({ length: 300 }, (_, n) => `m}${n}`);
      const slot = Number(await client.cluster("KEYSLOT", "{m}"));
      const granted = new Map<string, number>();
      let errors = 0;
      let migrations = 0;
      let movedKeys = 0;
      let migrating = true;
      const claimUntilAnswered = async (id: string): Promise<ClaimResult> => {
        for (;;) {
          try {
            return await store.claim(id, "fp", { lease: 10_000, ttl: 60_000, meta: { key: id } });
          } catch {
            errors++; // a failed call is retried, as a client would: the store must not have granted it
          }
        }
      };
      const worker = async (offset: number) => {
        for (let n = 0; n < ids.length; n++) {
          const id = ids[(n + offset * 37) % ids.length]!;
          const result = await claimUntilAnswered(id);
          if (result.status !== "claimed") continue;
          granted.set(id, (granted.get(id) ?? 0) + 1);
          for (;;) {
            try {
              await store.complete(id, result.token, ok, 60_000);
              break;
            } catch {
              errors++;
            }
          }
        }
      };
      const mover = async () => {
        // Back and forth while the workers run: the slot changes owner at least three times.
        while (migrating || migrations < 3) {
          movedKeys += await cluster.migrateSlot(slot);
          migrations++;
        }
      };
      const workers = Promise.all(Array.from({ length: 8 }, (_, offset) => worker(offset)));
      const moving = mover();
      await workers;
      migrating = false;
      await moving;

      const duplicates = [...granted.values()].filter((count) => count > 1).length;
      const lost: string[] = [];
      for (const id of ids) {
        const record = await store.get(id);
        if (record?.state !== "completed") lost.push(id);
      }
      console.log(
        `[redis cluster] ${ids.length} keys, 8 workers, ${migrations} slot migrations moving ${movedKeys} keys, ${errors} failed calls retried`,
      );
      expect({ granted: granted.size, duplicates, lost }).toEqual({ granted: ids.length, duplicates: 0, lost: [] });
      expect(migrations).toBeGreaterThanOrEqual(3);
      // The slot's index moved with its records: list and aggregate still see every one.
      expect((await listAll(store)).length).toBe(ids.length);
      expect((await store.aggregate()).states.completed).toBe(ids.length);
      expect(movedKeys).toBeGreaterThan(0); // records really moved under the running claims
    }, 120_000);
  });
}
