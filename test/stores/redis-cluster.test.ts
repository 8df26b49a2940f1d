import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../../src/stores/redis/index.js";
import { keySlot } from "../../src/stores/redis/record-index.js";
import { testStore } from "../../src/testing/index.js";
import { type OwnRedis, startRedis } from "../support/redis-server.js";

// The conformance suite on a real 3-master Redis Cluster of this file's own: every script touches keys of one slot
// only (a record and its slot's index), and list, aggregate and purge walk every slot's index.

const dir = mkdtempSync(join(tmpdir(), "oncely-cluster-"));
const nodes: OwnRedis[] = await Promise.all(
  [0, 1, 2].map((n) => startRedis(["--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${n}.conf`)])),
);
let cluster: Cluster | undefined;
// Registered before anything below can fail, so the servers stop whatever happens.
afterAll(async () => {
  cluster?.disconnect();
  await Promise.all(nodes.map((node) => node.stop()));
  rmSync(dir, { recursive: true, force: true });
});
await promisify(execFile)("redis-cli", [
  "--cluster",
  "create",
  ...nodes.map(({ port }) => `127.0.0.1:${port}`),
  "--cluster-replicas",
  "0",
  "--cluster-yes",
]);
// The cluster is usable once every node says so.
for (const { url } of nodes) {
  const node = new Redis(url);
  while (!/cluster_state:ok/.test(String(await node.cluster("INFO")))) await node.ping();
  node.disconnect();
}
cluster = new Cluster(nodes.map(({ port }) => ({ host: "127.0.0.1", port })));
const client = cluster;

const prefix = () => `oncely:${randomUUID().slice(0, 8)}:`;

testStore({
  name: "redis cluster",
  create: () => new RedisStore({ client, prefix: prefix() }),
  test: { describe, it, expect, beforeAll, afterAll },
  // A walk over the Cluster asks every master (~0.1 s on a loaded machine): records must outlive a few of them.
  timing: { lease: 600, ttl: 3_000 },
  steps: true,
  replayCounts: true,
  aggregate: true,
  additionalTests: () => {
    it("keeps each record's index in the record's own slot, and lists records of every master", async () => {
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
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.list({ limit: 7, ...(cursor ? { cursor } : {}) });
        seen.push(...page.records.map((record) => record.id));
        cursor = page.cursor;
      } while (cursor);
      expect(seen.sort()).toEqual([...ids].sort());
      expect((await store.aggregate()).states["in-flight"]).toBe(40);
    });
  },
});
