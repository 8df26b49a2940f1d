// Builds the store a benchmark server runs on, each in its own namespace, from the name `bench/run.ts` passes.
import { fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore } from "../dist/index.js";

const suffix = randomUUID().slice(0, 8);

/** Returns `{ store, cleanup }` for `name`; the networked stores use the test servers on 127.0.0.1. */
export async function createStore(name) {
  switch (name) {
    case "memory":
      return { store: new MemoryStore({ maxEntries: 1_000_000 }), cleanup: async () => {} };
    case "sqlite": {
      const { SqliteStore } = await import("../dist/stores/sqlite/index.js");
      const path = join(tmpdir(), `oncely-bench-${suffix}.db`);
      return onFile(new SqliteStore({ path }), path);
    }
    case "libsql": {
      const { LibsqlStore } = await import("../dist/stores/libsql/index.js");
      const path = join(tmpdir(), `oncely-bench-libsql-${suffix}.db`);
      return onFile(new LibsqlStore({ url: `file:${path}` }), path);
    }
    case "redis": {
      const { RedisStore } = await import("../dist/stores/redis/index.js");
      const timeout = process.env.BENCH_STORE_TIMEOUT ? Number(process.env.BENCH_STORE_TIMEOUT) : undefined;
      const store = new RedisStore({ url: "redis://127.0.0.1:6379", prefix: `oncely-bench-${suffix}:`, timeout });
      return { store, cleanup: () => store.close() };
    }
    case "redis-node-redis": {
      // node-redis 6, installed here as `redis6` (the `redis` name holds 4.x, which a benchmark peer needs).
      const { RedisStore } = await import("../dist/stores/redis/index.js");
      const { createClient } = await import("redis6");
      const client = await createClient({ url: "redis://127.0.0.1:6379" }).connect();
      const store = new RedisStore({ client, prefix: `oncely-bench-${suffix}-node-redis:` });
      return { store, cleanup: () => client.close() };
    }
    case "redis-iovalkey": {
      const { RedisStore } = await import("../dist/stores/redis/index.js");
      const { Redis } = await import("iovalkey");
      const client = new Redis("redis://127.0.0.1:6379");
      const store = new RedisStore({ client, prefix: `oncely-bench-${suffix}-iovalkey:` });
      return { store, cleanup: async () => client.disconnect() };
    }
    case "upstash": {
      // No Upstash account: the REST test fixture (test/support/upstash-rest.ts) before the local Redis, in a process
      // of its own so that its CPU is not counted as the store's. Its HTTP hop is local, its latency not Upstash's.
      const { UpstashStore } = await import("../dist/stores/upstash/index.js");
      const fixture = fork(new URL("../test/support/upstash-rest-server.ts", import.meta.url), [], {
        execArgv: ["--import", "tsx"],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      const [{ url, token }] = await once(fixture, "message");
      const store = new UpstashStore({ url, token, prefix: `oncely-bench-${suffix}-upstash:` });
      const cleanup = async () => {
        await store.close();
        const exited = once(fixture, "exit");
        fixture.disconnect();
        await exited;
      };
      return { store, cleanup };
    }
    case "postgres": {
      const { PostgresStore } = await import("../dist/stores/postgres/index.js");
      const table = `oncely_bench_${suffix}`;
      const store = new PostgresStore({ connectionString: "postgres://postgres@127.0.0.1:5432/test", table });
      await store.migrate();
      const pg = (await import("pg")).default;
      const drop = async () => {
        const client = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/test" });
        await client.connect();
        await client.query(`DROP TABLE IF EXISTS "${table}"`);
        await client.end();
      };
      const cleanup = async () => {
        await store.close();
        await drop();
      };
      return { store, cleanup };
    }
    case "mysql": {
      const { MySqlStore } = await import("../dist/stores/mysql/index.js");
      const table = `oncely_bench_${suffix}`;
      const store = new MySqlStore({ uri: "mysql://root@127.0.0.1:3306/test", table });
      await store.migrate();
      const drop = async () => {
        const mysql = await import("mysql2/promise");
        const connection = await mysql.createConnection("mysql://root@127.0.0.1:3306/test");
        await connection.query(`DROP TABLE IF EXISTS \`${table}\``);
        await connection.end();
      };
      const cleanup = async () => {
        await store.close();
        await drop();
      };
      return { store, cleanup };
    }
    case "dynamodb": {
      const { DynamoDbStore } = await import("../dist/stores/dynamodb/index.js");
      const { DynamoDBClient } = await import("@aws-sdk/client-dynamodb");
      const client = new DynamoDBClient({
        endpoint: process.env.BENCH_DYNAMODB_ENDPOINT,
        region: "us-east-1",
        credentials: { accessKeyId: "bench", secretAccessKey: "bench" },
      });
      const store = new DynamoDbStore({ client, table: `oncely_bench_${suffix}`, timeout: "5s" });
      await store.createTable();
      return { store, cleanup: () => store.close() };
    }
    default:
      throw new Error(`unknown store ${name}`);
  }
}

/** A store on one SQLite database file, migrated; its cleanup closes it and removes the file and its WAL. */
async function onFile(store, path) {
  await store.migrate();
  const cleanup = async () => {
    await store.close();
    await Promise.all([path, `${path}-wal`, `${path}-shm`].map((file) => rm(file, { force: true })));
  };
  return { store, cleanup };
}
