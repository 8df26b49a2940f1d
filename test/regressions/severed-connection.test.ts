/**
 * A connection that dies silently (a firewall or NAT forgets it, a failover moves the server's address): bytes sent
 * on it vanish and no reset ever comes, while new connections work. Found by the outage tests (issue 8):
 * - RedisStore with its own connection never recovered: ioredis kept the dead connection "ready", so every later
 *   command waited on it and was answered 503 until TCP gave up (many minutes; through the proxy, never).
 * - PostgresStore kept the pooled connection whose statement never returned: one connection lost per incident,
 *   and `close()` waited for it forever. Now its statements carry pg's `query_timeout` (3 × timeout, at least 3 s).
 */

import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { StoreTimeoutError } from "../../src/core/errors.js";
import type { Store } from "../../src/core/store.js";
import { PostgresStore } from "../../src/stores/postgres/index.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { startFaultProxy } from "../reliability/support/fault-proxy.js";
import { deleteRedisPrefix } from "../support/scratch.js";
import { serviceAvailable, services } from "../support/services.js";

const TIMEOUT = 300;
const opts = { lease: 5_000, ttl: 10_000, meta: { key: "k" } };

/** Claims fresh ids until one succeeds; resolves the milliseconds that took, or rejects after `limit`. */
async function recovers(store: Store, limit: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const result = await store.claim(randomUUID(), "fp", opts).catch(() => undefined);
    if (result?.status === "claimed") return performance.now() - started;
    if (performance.now() - started > limit) throw new Error(`no claim succeeded within ${limit} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms))]);

describe.skipIf(!(await serviceAvailable("redis")))("RedisStore over a connection that died silently", () => {
  it("drops the dead connection after an unanswered PING and works again on a new one", async () => {
    const proxy = await startFaultProxy(services.redis);
    const prefix = `oncely-test:severed:${randomUUID().slice(0, 8)}:`;
    const store = new RedisStore({ url: `redis://${proxy.host}:${proxy.port}`, prefix, timeout: TIMEOUT });
    onTestFinished(async () => {
      await store.close();
      await proxy.close();
      await deleteRedisPrefix(prefix); // the records expire on their own; their index keys would stay
    });
    expect((await store.claim("before", "fp", opts)).status).toBe("claimed");
    proxy.sever();
    await expect(store.claim(randomUUID(), "fp", opts)).rejects.toThrow(StoreTimeoutError);
    // The timed-out claim, then an unanswered PING (one more timeout), then a reconnect.
    expect(await recovers(store, 5 * TIMEOUT + 2_000)).toBeLessThan(5 * TIMEOUT + 2_000);
    expect(proxy.stats().accepted).toBe(2);
    expect((await store.claim("before", "fp", opts)).status).toBe("in-flight");
  });
});

describe.skipIf(!(await serviceAvailable("postgres")))("PostgresStore over a connection that died silently", () => {
  it("discards the pooled connection whose statement timed out, so close() does not wait for it", async () => {
    const proxy = await startFaultProxy(services.postgres);
    const table = `oncely_test_${randomUUID().slice(0, 8)}`;
    const url = new URL(services.postgres.url);
    url.port = String(proxy.port);
    const store = new PostgresStore({ connectionString: url.toString(), table, timeout: TIMEOUT });
    const direct = new PostgresStore({ connectionString: services.postgres.url, table });
    await direct.migrate();
    afterAll(async () => {
      await direct.close();
      await proxy.close();
    });
    expect((await store.claim("before", "fp", opts)).status).toBe("claimed");
    proxy.sever();
    await expect(store.claim(randomUUID(), "fp", opts)).rejects.toThrow(StoreTimeoutError);
    expect(await recovers(store, 2_000)).toBeLessThan(2_000);
    // pg's read timeout on the store's statements is 3 s here (3 × timeout, at least 3 s).
    await within(store.close(), 4_500);
    // Drop the table over a connection of its own (the store's pool is closed).
    const pg = (await import("pg")).default;
    const client = new pg.Client({ connectionString: services.postgres.url });
    await client.connect();
    await client.query(`DROP TABLE IF EXISTS "${table}"`);
    await client.end();
  });
});
