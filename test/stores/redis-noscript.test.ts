import { Redis } from "ioredis";
import { Redis as Valkey } from "iovalkey";
import { createClient } from "redis6";
import { afterAll, describe, expect, it } from "vitest";
import { RedisStore, type RedisStoreOptions } from "../../src/stores/redis/index.js";
import { startRedis } from "../support/redis-server.js";
import { claimToken } from "../support/store-lifecycle.js";

// A server that lost its scripts (SCRIPT FLUSH, or a restart behind a proxy that kept the connection) answers EVALSHA
// with NOSCRIPT: the store sends the script again, as EVAL, and the operation answers as if nothing had happened. On a
// server of this file's own: a flush here reaches no other test's scripts.

const server = await startRedis();
const admin = new Redis(server.url);
afterAll(async () => {
  admin.disconnect();
  await server.stop();
});

const opts = { lease: 1000, ttl: 10_000, meta: { key: "k" } };
const ok = { status: 201, headers: [] as [string, string][], body: new Uint8Array([0, 255]), kept: true };

const kinds: { name: string; open(): Promise<RedisStoreOptions["client"] & object>; close(client: unknown): void }[] = [
  {
    name: "ioredis",
    open: async () => new Redis(server.url),
    close: (client) => (client as Redis).disconnect(),
  },
  // Options people turn on: their scripts go another way (auto-pipelining keeps ioredis's own script commands) or
  // carry more (a key prefix, a stack captured per command).
  {
    name: "ioredis, enableAutoPipelining",
    open: async () => new Redis(server.url, { enableAutoPipelining: true }),
    close: (client) => (client as Redis).disconnect(),
  },
  {
    name: "ioredis, showFriendlyErrorStack and keyPrefix",
    open: async () => new Redis(server.url, { showFriendlyErrorStack: true, keyPrefix: "app:" }),
    close: (client) => (client as Redis).disconnect(),
  },
  {
    name: "iovalkey",
    open: async () => new Valkey(server.url) as unknown as Redis,
    close: (client) => (client as Valkey).disconnect(),
  },
  {
    name: "node-redis 6",
    open: () => createClient({ url: server.url }).connect(),
    close: (client) => void (client as ReturnType<typeof createClient>).close(),
  },
];

describe("RedisStore after the server lost its scripts", () => {
  for (const kind of kinds) {
    it(`sends them again and answers as before (${kind.name})`, async () => {
      const client = await kind.open();
      try {
        const store = new RedisStore({ client, prefix: `noscript-${kind.name}:` });
        const token = await claimToken(store, "id", opts);
        await admin.script("FLUSH");
        expect(await store.complete("id", token, ok, 10_000)).toBe(true);
        await admin.script("FLUSH");
        const replay = await store.claim("id", "fp", opts);
        expect(replay.status).toBe("completed");
        expect(replay.status === "completed" && [...replay.record.response!.body]).toEqual([0, 255]);
        await admin.script("FLUSH");
        // Several operations in one turn of the event loop, each refused and sent again.
        const tokens = await Promise.all(["a", "b", "c"].map((id) => claimToken(store, id, opts)));
        await admin.script("FLUSH");
        expect(await Promise.all(tokens.map((held, i) => store.release(["a", "b", "c"][i]!, held)))).toEqual([
          true,
          true,
          true,
        ]);
      } finally {
        kind.close(client);
      }
    });
  }
});
