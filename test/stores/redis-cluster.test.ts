import { randomUUID } from "node:crypto";
import { Cluster } from "ioredis";
import { Cluster as ValkeyCluster } from "iovalkey";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../../src/stores/redis/index.js";
import { keySlot } from "../../src/stores/redis/record-index.js";
import { testStore } from "../../src/testing/index.js";
import { expectExactlyOnce, intentsWhileSlotsMove } from "../reliability/support/slot-moves.js";
import { clusterAvailable, type RedisCluster, startRedisCluster } from "../support/redis-cluster.js";
import { until } from "../support/until.js";

// RedisStore on a real Redis Cluster of three masters (started here, on ports of its own), through ioredis's Cluster
// client and through iovalkey's: the conformance suite (every script touches keys of one slot only: a record and its
// slot's index; list, aggregate and purge walk every slot's index), then a small run of the reliability suite's
// resharding test (test/reliability/cluster-migration): intents through a real HTTP server while the slots of their
// records move between masters. (A node-redis Cluster is refused at setup: test/stores/redis-clients.test.ts.)

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

/** A Cluster client kind the store takes; iovalkey's classes are ioredis's under another name. */
const kinds: { name: string; open(cluster: RedisCluster, options?: { maxRedirections?: number }): Cluster }[] = [
  {
    name: "ioredis",
    open: (cluster, options) =>
      new Cluster([...cluster.nodes], { redisOptions: { maxRetriesPerRequest: 3 }, ...options }),
  },
  {
    name: "iovalkey",
    open: (cluster, options) =>
      new ValkeyCluster([...cluster.nodes], {
        redisOptions: { maxRetriesPerRequest: 3 },
        ...options,
      }) as unknown as Cluster,
  },
];

if (await clusterAvailable()) {
  let cluster!: RedisCluster;
  const ready = (async () => {
    cluster = await startRedisCluster();
  })();
  beforeAll(() => ready, 60_000);
  afterAll(async () => {
    await ready.catch(() => {});
    await cluster?.stop();
  });

  for (const kind of kinds) {
    let client: Cluster;
    const opened = (async () => {
      await ready;
      client = kind.open(cluster);
    })();
    afterAll(async () => {
      await opened.catch(() => {});
      client?.disconnect();
    });

    testStore({
      name: `redis (Cluster, 3 masters, ${kind.name})`,
      create: async () => {
        await opened;
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
          await opened;
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

        it("takes any id: one with braces of its own lands with its index in the slot Redis hashes it to", async () => {
          await opened;
          const store = new RedisStore({ client, prefix: prefix() });
          // The key is `<prefix>{<id>}`: Redis hashes "a" for the first (the tag ends at the id's own "}"), and the
          // whole key for the second (an empty tag).
          const ids = ["a}b", "}starts-with-a-brace", "a{b}c", "plain"];
          for (const id of ids) {
            expect(await store.claim(id, "fp", { lease: 1000, ttl: 10_000, meta: { key: id } })).toMatchObject({
              status: "claimed",
            });
          }
          expect((await listAll(store)).sort()).toEqual([...ids].sort());
          expect(await store.purgeExpired()).toBe(0);
        });

        it("releases a claim that runs after the store gave up on it, as a client still following TRYAGAIN runs it once the move ends", async () => {
          await opened;
          // A client that follows redirections for as long as the move takes (ioredis's default gives up after 16).
          const patient = kind.open(cluster, { maxRedirections: 1_000 });
          try {
            const store = new RedisStore({ client: patient, prefix: prefix(), timeout: 300 });
            const options = { lease: 60_000, ttl: 120_000, meta: { key: "late" } };
            // The claim of a new record is refused on both nodes while its slot moves: the store gives up after its
            // timeout, and the command it sent goes on in the client, which runs it once the slot has moved.
            const migration = await cluster.beginMigration(keySlot("late"));
            await expect(store.claim("late", "fp", options)).rejects.toThrow(/claim timed out after 300 ms/);
            await migration.finish();
            await until(async () => (await store.get("late"))?.state === "released", "the late claim to be released");
            expect(await store.claim("late", "fp", options)).toMatchObject({ status: "claimed" });
            await store.close();
          } finally {
            patient.disconnect();
          }
        });

        it("walks a slot being moved once the move ends: list, aggregate and purge wait for it instead of failing", async () => {
          await opened;
          const keyPrefix = prefix();
          // A first call in this process also finds each slot's index tag: more than the default second on a busy machine.
          const store = new RedisStore({ client, prefix: keyPrefix, timeout: 5_000 });
          const ids = Array.from({ length: 6 }, (_, n) => `walk}${n}`);
          for (const id of ids) await store.claim(id, "fp", { lease: 10_000, ttl: 60_000, meta: { key: id } });
          // One record moved, the rest and the slot's index not yet: Redis refuses the index's scripts (TRYAGAIN).
          const migration = await cluster.beginMigration(keySlot("walk"));
          await migration.moveKeys([`${keyPrefix}{${ids[0]}}`]);
          const refused = (await cluster.serverStats()).errors.TRYAGAIN ?? 0;
          const walks = Promise.all([listAll(store), store.aggregate(), store.purgeExpired()]);
          await until(
            async () => ((await cluster.serverStats()).errors.TRYAGAIN ?? 0) > refused,
            "a walk to be refused",
          );
          await migration.finish();
          const [listed, counts, purged] = await walks;
          expect({ listed: listed.sort(), inFlight: counts.states["in-flight"], purged }).toEqual({
            listed: [...ids].sort(),
            inFlight: ids.length,
            purged: 0,
          });
        });
      },
    });

    describe(`redis (Cluster, ${kind.name}): intents while their slots migrate`, () => {
      it("runs every intent exactly once and loses none; a claim refused past the store timeout answers 503, then succeeds", async () => {
        await opened;
        expectExactlyOnce(await intentsWhileSlotsMove(cluster, client, 40));
      }, 60_000);
    });
  }
}
