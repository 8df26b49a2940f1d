import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import pg from "pg";
import { afterAll } from "vitest";
import { DynamoDbStore } from "../../src/stores/dynamodb/index.js";
import { LibsqlStore } from "../../src/stores/libsql/index.js";
import { MySqlStore } from "../../src/stores/mysql/index.js";
import { PostgresStore } from "../../src/stores/postgres/index.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";
import { serviceAvailable, services } from "../support/services.js";
import { describeStreaming } from "./streaming.js";
import { streamingExpress, streamingFastify, streamingFetch, streamingHono, streamingNode } from "./streaming-apps.js";

// The streaming cases on the other stores that record streams, each behind one adapter: SQLite (whose followers
// poll), Redis (whose followers block on the run's stream), PostgreSQL (whose followers wait for a NOTIFY), and libSQL,
// MySQL and DynamoDB (whose followers poll).

const dir = mkdtempSync(join(tmpdir(), "oncely-streaming-"));
let files = 0;
describeStreaming(
  "node:http on SqliteStore",
  streamingNode,
  () => new SqliteStore({ path: join(dir, `${files++}.db`) }),
);
describeStreaming(
  "express on LibsqlStore",
  streamingExpress,
  () => new LibsqlStore({ url: `file:${join(dir, `${files++}.db`)}` }),
);

const base = `oncely-test:${randomUUID().slice(0, 8)}:`;
if (await serviceAvailable("redis")) {
  describeStreaming(
    "express on RedisStore",
    streamingExpress,
    () => new RedisStore({ url: services.redis.url, prefix: `${base}${randomUUID().slice(0, 8)}:` }),
  );
}

const tables: string[] = [];
if (await serviceAvailable("postgres")) {
  describeStreaming("fetch on PostgresStore", streamingFetch, async () => {
    const table = `oncely_streaming_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    tables.push(table);
    const store = new PostgresStore({ connectionString: services.postgres.url, table });
    await store.migrate();
    return store;
  });
}

const mysqlTables: string[] = [];
if (await serviceAvailable("mysql")) {
  describeStreaming("fastify on MySqlStore", streamingFastify, async () => {
    const table = `oncely_streaming_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    mysqlTables.push(table);
    const store = new MySqlStore({ uri: services.mysql.url, table });
    await store.migrate();
    return store;
  });
}

// dynalite (a local DynamoDB, as the store's own tests use) in this process.
const dynalite = createRequire(import.meta.url)("dynalite") as (options: object) => import("node:http").Server;
const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0 });
await new Promise<void>((resolve) => dynamo.listen(0, "127.0.0.1", resolve));
const dynamoClient = new DynamoDBClient({
  endpoint: `http://127.0.0.1:${(dynamo.address() as AddressInfo).port}`,
  region: "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
});
// dynalite answers one request at a time: 20 followers polling, their claims and the holder's appends queue behind
// each other, past the default 1 s store timeout on a loaded machine (the store's own races take 15 s for the same).
describeStreaming(
  "hono on DynamoDbStore",
  streamingHono,
  async () => {
    const store = new DynamoDbStore({
      client: dynamoClient,
      table: `oncely_${randomUUID().slice(0, 8)}`,
      timeout: "5s",
    });
    await store.createTable();
    return store;
  },
  { storeTimeout: "5s" },
);

afterAll(async () => {
  dynamoClient.destroy();
  await new Promise<void>((resolve) => dynamo.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
  if (mysqlTables.length > 0) {
    const pool = mysql.createPool({ uri: services.mysql.url });
    await pool.query(`DROP TABLE IF EXISTS ${mysqlTables.flatMap((name) => [name, `${name}_stream`]).join(", ")}`);
    await pool.end();
  }
  if (tables.length > 0) {
    const pool = new pg.Pool({ connectionString: services.postgres.url });
    await pool.query(tables.map((name) => `DROP TABLE IF EXISTS "${name}", "${name}_stream";`).join("\n"));
    await pool.end();
  }
  const client = new Redis(services.redis.url, { lazyConnect: true });
  await client.connect().catch(() => undefined);
  if (client.status === "ready") {
    const keys = await client.keys(`${base}*`);
    if (keys.length > 0) await client.unlink(...keys);
    await client.quit();
  } else client.disconnect();
});
