import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/core/store.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import { createToolCaller, REPLAYED_META } from "../../src/mcp/index.js";
import { MySqlStore } from "../../src/stores/mysql/index.js";
import { PostgresStore } from "../../src/stores/postgres/index.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";
import {
  createMySqlTable,
  createPostgresTable,
  deleteRedisPrefix,
  dropMySqlTable,
  dropPostgresTable,
} from "../support/scratch.js";
import { type ServiceName, serviceAvailable, services } from "../support/services.js";
import { httpClient, rpcError } from "./support/clients.js";
import { serveMcp } from "./support/http-server.js";
import { closedAfterEach } from "./support/opened.js";
import { paymentsTools } from "./support/payments-tools.js";

// The guard on every store a server can keep its records in, with the real SDK client and server over Streamable
// HTTP: a lost answer retried, a burst with one key, and a key reused with other arguments. Each store gets a table,
// prefix or file of its own, removed afterwards.
const dir = mkdtempSync(join(tmpdir(), "oncely-mcp-stores-"));
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  rmSync(dir, { recursive: true, force: true });
});
const open = closedAfterEach();

interface StoreCase {
  name: string;
  service?: ServiceName;
  /** A fresh store, and how to remove what it created. */
  make(): Promise<{ store: Store; remove(): Promise<void> }>;
}

/** Store timeouts for a loaded machine: these tests are about running once, and a slow answer is not a failure. */
const SLOW = "10s";
const tableName = () => `oncely_mcp_${randomUUID().slice(0, 8)}`;
const cases: StoreCase[] = [
  { name: "memory", make: async () => ({ store: new MemoryStore(), remove: async () => {} }) },
  {
    name: "sqlite",
    make: async () => ({
      store: new SqliteStore({ path: join(dir, `${randomUUID()}.db`), timeout: SLOW }),
      remove: async () => {},
    }),
  },
  {
    name: "redis",
    service: "redis",
    make: async () => {
      const prefix = `oncely-mcp:${randomUUID().slice(0, 8)}:`;
      return {
        store: new RedisStore({ url: services.redis.url, prefix, timeout: SLOW }),
        remove: () => deleteRedisPrefix(prefix),
      };
    },
  },
  {
    name: "postgres",
    service: "postgres",
    make: async () => {
      const table = tableName();
      await createPostgresTable(table);
      const store = new PostgresStore({ connectionString: services.postgres.url, table, timeout: SLOW });
      return { store, remove: () => dropPostgresTable(table) };
    },
  },
  {
    name: "mysql",
    service: "mysql",
    make: async () => {
      const table = tableName();
      await createMySqlTable(table);
      return {
        store: new MySqlStore({ uri: services.mysql.url, table, timeout: SLOW }),
        remove: () => dropMySqlTable(table),
      };
    },
  },
];

for (const storeCase of cases) {
  const available = storeCase.service === undefined || (await serviceAvailable(storeCase.service));
  describe.runIf(available)(`guardTools on the ${storeCase.name} store`, () => {
    async function setUp(delay = 0) {
      const { store, remove } = await storeCase.make();
      cleanups.push(async () => {
        await store.close();
        await remove();
      });
      const tools = paymentsTools(createIdempotency({ store, logger: false, storeTimeout: SLOW }), { delay });
      const served = await serveMcp(tools.make, { mode: "stateless", json: true });
      const client = await httpClient(served.url);
      open.push(served, client);
      return { ...tools, served, client };
    }

    it("answers the retry of a lost answer from the record: one effect, the same result", async () => {
      const { served, client, effects } = await setUp();
      served.loseNextAnswer();
      const result = await createToolCaller(client, { backoff: { base: 10, cap: 50 } })({
        name: "create_charge",
        arguments: { amount: 310 },
      });
      expect(served.lost).toBe(1);
      expect(effects.charges).toHaveLength(1);
      expect(result.structuredContent).toEqual({ id: "ch_1", amount: 310 });
      expect(result._meta?.[REPLAYED_META]).toBe(true);
    });

    it("runs 20 concurrent calls with one key once, and refuses the key with other arguments", async () => {
      const { client, effects } = await setUp(100);
      const call = (amount: number) =>
        client.callTool({ name: "create_charge", arguments: { amount }, _meta: { idempotencyKey: "burst" } });
      const results = await Promise.all(Array.from({ length: 20 }, () => call(42)));
      expect(effects.charges).toHaveLength(1);
      for (const result of results) expect(result.structuredContent).toEqual({ id: "ch_1", amount: 42 });
      expect((await rpcError(call(43))).data.type).toBe("urn:oncely:problem:fingerprint-mismatch");
      expect(effects.charges).toHaveLength(1);
    });
  });
}
