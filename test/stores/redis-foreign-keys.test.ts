import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../../src/stores/redis/index.js";
import { testStore } from "../../src/testing/index.js";
import { startRedis } from "../support/redis-server.js";

// The whole conformance suite on a Redis that also holds 100,000 keys of other applications, as a shared Redis does:
// hashes with hash tags like oncely's, another oncely prefix, strings and sorted sets. On a server of this file's own,
// so that nothing another test file does shows up here, and nothing here reaches theirs.

const FOREIGN_KEYS = 100_000;
const server = await startRedis();
const client = new Redis(server.url);

async function preload(): Promise<void> {
  for (let start = 0; start < FOREIGN_KEYS; start += 10_000) {
    const pipeline = client.pipeline();
    for (let n = start; n < start + 10_000; n++) {
      const kind = n % 4;
      if (kind === 0) pipeline.set(`session:${n}`, "x");
      else if (kind === 1) pipeline.hset(`cache:{${n}}`, "state", "in-flight", "created_at", Date.now());
      else if (kind === 2) pipeline.hset(`oncely-elsewhere:{${randomUUID()}}`, "state", "completed", "expires_at", 1);
      else pipeline.zadd(`leaderboard:${n}`, n, "player");
    }
    await pipeline.exec();
  }
}

beforeAll(preload, 30_000);
afterAll(async () => {
  client.disconnect();
  await server.stop();
});

const prefix = () => `oncely:${randomUUID().slice(0, 8)}:`;

testStore({
  name: "redis beside 100,000 foreign keys",
  create: () => new RedisStore({ client, prefix: prefix() }),
  test: { describe, it, expect, beforeAll, afterAll },
  steps: true,
  replayCounts: true,
  aggregate: true,
  additionalTests: () => {
    it("holds the foreign keys, and lists, counts and purges without one SCAN", async () => {
      expect(await client.dbsize()).toBeGreaterThanOrEqual(FOREIGN_KEYS);
      const store = new RedisStore({ client, prefix: prefix() });
      for (let n = 0; n < 5; n++) await store.claim(`id-${n}`, "fp", { lease: 1000, ttl: 10_000, meta: { key: "k" } });
      const scans = async () => Number(/cmdstat_scan:calls=(\d+)/.exec(await client.info("commandstats"))?.[1] ?? 0);
      const before = await scans();
      expect((await store.list({ state: "in-flight", limit: 100 })).records).toHaveLength(5);
      expect((await store.aggregate()).states["in-flight"]).toBe(5);
      expect(await store.purgeExpired()).toBe(0);
      expect(await scans()).toBe(before);
    });
  },
});
