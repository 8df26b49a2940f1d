import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createIdempotency, MemoryStore, type Store, StoreError } from "../../src/index.js";
import { MySqlStore } from "../../src/stores/mysql/index.js";
import { PostgresStore } from "../../src/stores/postgres/index.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";
import { freePort } from "../support/free-port.js";
import { createMySqlTable, createPostgresTable, dropMySqlTable, dropPostgresTable } from "../support/scratch.js";
import { serviceAvailable, services } from "../support/services.js";

// The startup check: `await idem.ready()` at boot turns a bad store URL, a database that does not exist, a table
// never migrated or an unwritable file into an error before the first request, naming the store and the cause.

/** What `ready()` did for an engine on `store`: `"ready"`, or the error it rejected with. Closes the store. */
async function readiness(store: Store): Promise<"ready" | StoreError> {
  const idem = createIdempotency({ store, logger: false });
  try {
    await idem.ready();
    return "ready";
  } catch (error) {
    expect(error).toBeInstanceOf(StoreError);
    return error as StoreError;
  } finally {
    await idem.close();
  }
}

const suffix = `${process.pid}_${Date.now()}`;
const table = `oncely_ready_${suffix}`;
const dir = mkdtempSync(join(tmpdir(), "oncely-ready-"));
const up = {
  redis: await serviceAvailable("redis"),
  postgres: await serviceAvailable("postgres"),
  mysql: await serviceAvailable("mysql"),
};

describe("idem.ready()", () => {
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (up.postgres) await dropPostgresTable(table);
    if (up.mysql) await dropMySqlTable(table);
  });

  it("memory: always ready", async () => {
    expect(await readiness(new MemoryStore())).toBe("ready");
  });

  describe("sqlite", () => {
    it("a writable path: ready", async () => {
      expect(await readiness(new SqliteStore({ path: join(dir, "ok.db") }))).toBe("ready");
    });

    it("a path that cannot be written (its directory is a file): rejects naming the store", async () => {
      writeFileSync(join(dir, "not-a-directory"), "");
      const failed = await readiness(new SqliteStore({ path: join(dir, "not-a-directory", "oncely.db") }));
      expect(failed).toBeInstanceOf(StoreError);
      expect((failed as StoreError).message).toMatch(/^\[oncely\] \[sqlite\] startup check failed: /);
      expect((failed as StoreError).cause).toBeDefined();
    });
  });

  describe.runIf(up.redis)("redis", () => {
    it("up: ready", async () => {
      expect(await readiness(new RedisStore({ url: services.redis.url, prefix: `ready-${suffix}:` }))).toBe("ready");
    });

    it("a closed port: rejects with the address, for the operator", async () => {
      const port = await freePort();
      const failed = await readiness(new RedisStore({ url: `redis://127.0.0.1:${port}` }));
      expect((failed as StoreError).message).toMatch(
        new RegExp(`^\\[oncely\\] \\[redis\\] startup check failed: .*ECONNREFUSED 127\\.0\\.0\\.1:${port}`),
      );
    });
  });

  describe.runIf(up.postgres)("postgres", () => {
    it("up, table migrated: ready", async () => {
      await createPostgresTable(table);
      expect(await readiness(new PostgresStore({ connectionString: services.postgres.url, table }))).toBe("ready");
    });

    it("a database that does not exist: rejects saying so", async () => {
      const url = new URL(services.postgres.url);
      url.pathname = "/oncely_no_such_database";
      const failed = await readiness(new PostgresStore({ connectionString: url.href, table }));
      expect((failed as StoreError).message).toMatch(
        /^\[oncely\] \[postgres\] startup check failed: .*database "oncely_no_such_database" does not exist/,
      );
    });

    it("a table never migrated: rejects saying so", async () => {
      const store = new PostgresStore({ connectionString: services.postgres.url, table: `${table}_missing` });
      const failed = await readiness(store);
      expect((failed as StoreError).message).toMatch(/^\[oncely\] \[postgres\] startup check failed: .*does not exist/);
    });
  });

  describe.runIf(up.mysql)("mysql (MariaDB)", () => {
    it("up, table migrated: ready", async () => {
      await createMySqlTable(table);
      expect(await readiness(new MySqlStore({ uri: services.mysql.url, table }))).toBe("ready");
    });

    it("a port nothing listens on: rejects with the address", async () => {
      const port = await freePort();
      const url = new URL(services.mysql.url);
      url.port = String(port);
      const failed = await readiness(new MySqlStore({ uri: url.href, table }));
      expect((failed as StoreError).message).toMatch(
        new RegExp(`^\\[oncely\\] \\[mysql\\] startup check failed: .*ECONNREFUSED 127\\.0\\.0\\.1:${port}`),
      );
    });

    it("a table never migrated: rejects saying so", async () => {
      const failed = await readiness(new MySqlStore({ uri: services.mysql.url, table: `${table}_missing` }));
      expect((failed as StoreError).message).toMatch(/^\[oncely\] \[mysql\] startup check failed: .*doesn't exist/);
    });
  });
});
