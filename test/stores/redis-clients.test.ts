import { randomUUID } from "node:crypto";
import { Redis as Valkey } from "iovalkey";
import { createClient, createCluster } from "redis6";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore, type RedisStoreOptions } from "../../src/stores/redis/index.js";
import { testStore } from "../../src/testing/index.js";
import { type RoundTripProxy, roundTripProxy } from "../support/round-trip-proxy.js";
import { serviceAvailable, services } from "../support/services.js";
import { claimToken } from "../support/store-lifecycle.js";

// RedisStore over the other clients it takes: node-redis (the `redis` package, 5 or newer; installed here as `redis6`
// beside the 4.x a benchmark peer needs) and iovalkey (ioredis's Valkey fork). The same conformance suite as over
// ioredis (test/stores/redis.test.ts), on the same server, through a counting proxy for the round-trip case.

const base = `oncely-test:clients:${randomUUID().slice(0, 8)}:`;
const prefix = () => `${base}${randomUUID().slice(0, 8)}:`;
const opts = { lease: 1000, ttl: 10_000, meta: { key: "k" } };
const bytes = new Uint8Array([...Array.from({ length: 256 }, (_, i) => i), 0xc3, 0x28]);
const response = { status: 201, headers: [["x-a", "1"]] as [string, string][], body: bytes, kept: true };

type NodeRedis = ReturnType<typeof createClient>;

interface ClientKind {
  name: string;
  /** A connected client on `url`. */
  open(url: string): Promise<RedisStoreOptions["client"] & object>;
  close(client: unknown): Promise<void>;
}

const kinds: ClientKind[] = [
  {
    name: "node-redis 6",
    // No cast: a node-redis client is what the option's type takes.
    open: (url) => createClient({ url }).connect(),
    close: async (client) => {
      await (client as NodeRedis).close();
    },
  },
  {
    name: "iovalkey",
    // iovalkey's classes are ioredis's under another name: the store takes one as it takes ioredis's.
    open: async (url) => new Valkey(url) as unknown as RedisStoreOptions["client"] & object,
    close: async (client) => {
      (client as Valkey).disconnect();
    },
  },
];

if (await serviceAvailable("redis")) {
  const cleanup = new Valkey(services.redis.url);
  afterAll(async () => {
    const keys = await cleanup.keys(`${base}*`);
    if (keys.length > 0) await cleanup.unlink(...keys);
    cleanup.disconnect();
  });

  for (const kind of kinds) {
    const clients: unknown[] = [];
    const proxies: RoundTripProxy[] = [];
    const client = await kind.open(services.redis.url);
    clients.push(client);
    afterAll(async () => {
      await Promise.all(clients.map((each) => kind.close(each)));
      await Promise.all(proxies.map((proxy) => proxy.close()));
    });

    testStore({
      name: `redis over ${kind.name}`,
      create: () => new RedisStore({ client, prefix: prefix() }),
      test: { describe, it, expect, beforeAll, afterAll },
      steps: true,
      replayCounts: true,
      aggregate: true,
      streams: true,
      roundTrips: async () => {
        const proxy = await roundTripProxy(services.redis.host, services.redis.port);
        proxies.push(proxy);
        const counted = await kind.open(`redis://127.0.0.1:${proxy.port}`);
        clients.push(counted);
        return { store: new RedisStore({ client: counted, prefix: prefix() }), ...proxy };
      },
      additionalTests: () => {
        it("keeps bodies as bytes, in the layout ioredis's RedisStore reads", async () => {
          const keyPrefix = prefix();
          const store = new RedisStore({ client, prefix: keyPrefix });
          await store.complete("id", await claimToken(store, "id", opts), response, 10_000);
          expect(
            Buffer.compare(
              (await cleanup.hgetBuffer(`${keyPrefix}{id}`, "body")) ?? Buffer.alloc(0),
              Buffer.from(bytes),
            ),
          ).toBe(0);
          const replay = await store.claim("id", "fp", opts);
          if (replay.status !== "completed") throw new Error(`expected a replay, got ${replay.status}`);
          expect(Buffer.from(replay.record.response!.body)).toEqual(Buffer.from(bytes));
          const viaIoredis = new RedisStore({ client: cleanup as never, prefix: keyPrefix });
          expect(Buffer.from((await viaIoredis.get("id"))!.response!.body)).toEqual(Buffer.from(bytes));
        });

        it("indexes records written before the index (reindex scans with the client's SCAN)", async () => {
          const keyPrefix = prefix();
          const store = new RedisStore({ client, prefix: keyPrefix });
          await cleanup.hset(`${keyPrefix}{old}`, {
            ...{ state: "released", fingerprint: "fp", token: 7, created_at: Date.now(), lease_until: 0 },
            ...{ expires_at: Date.now() + 10_000, meta: JSON.stringify({ key: "k" }), version: 1 },
          });
          expect(await store.reindex()).toBe(1);
          expect((await store.list()).records.map((record) => record.id)).toEqual(["old"]);
        });
      },
    });
  }

  describe("RedisStore's client option", () => {
    it("refuses a node-redis 4 client, naming what it takes", async () => {
      const { createClient: createClient4 } = await import("redis");
      const old = createClient4();
      expect(() => new RedisStore({ client: old as never })).toThrow(/node-redis \(5 or newer\)/);
    });

    it("refuses a node-redis Cluster at construction, naming the Cluster clients it takes", () => {
      // Never connected: the store refuses it before any command.
      const cluster = createCluster({ rootNodes: [{ url: services.redis.url }] });
      expect(() => new RedisStore({ client: cluster as never })).toThrow(
        /node-redis Cluster \(`createCluster\(\)`\) is not taken.*ioredis or iovalkey `Cluster`/,
      );
    });
  });
} else {
  // services.ts has printed which tests this leaves out, and why.
  describe.skip("redis store over node-redis and iovalkey (server not reachable)", () => {});
}
