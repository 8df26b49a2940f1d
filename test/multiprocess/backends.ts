import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import pg from "pg";
import { DynamoDbStore } from "../../src/stores/dynamodb.js";
import { MySqlStore } from "../../src/stores/mysql.js";
import { PostgresStore } from "../../src/stores/postgres.js";
import { SqliteStore } from "../../src/stores/sqlite.js";
import { type ServiceName, services } from "../support/services.js";
import { dynaliteCredentials, type StoreConfig } from "./store-config.js";

/** One shared backend as the parent prepares it: a fresh table, prefix or file per run, removed afterwards. */
export interface Backend {
  readonly name: string;
  /** The server this backend needs (checked with `serviceAvailable`), if any. */
  readonly service?: ServiceName;
  /** Creates the table (or prefix, or file) the workers share, and returns how they open it. */
  setUp(): Promise<StoreConfig>;
  /** Removes what `setUp` created. Safe to call when `setUp` failed or never ran. */
  tearDown(): Promise<void>;
}

const uniqueName = () => `oncely_mp_${randomUUID().slice(0, 8)}`;

export function sqliteBackend(): Backend {
  let dir: string | undefined;
  return {
    name: "sqlite (one WAL file)",
    async setUp() {
      dir = mkdtempSync(join(tmpdir(), "oncely-multiprocess-"));
      const path = join(dir, "records.db");
      const store = new SqliteStore({ path });
      await store.migrate();
      await store.close();
      return { kind: "sqlite", path };
    },
    async tearDown() {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function redisBackend(): Backend {
  const prefix = `oncely-mp:${randomUUID().slice(0, 8)}:`;
  return {
    name: "redis",
    service: "redis",
    async setUp() {
      return { kind: "redis", url: services.redis.url, prefix };
    },
    async tearDown() {
      const client = new Redis(services.redis.url);
      try {
        const stream = client.scanStream({ match: `${prefix}*`, count: 1000 });
        for await (const keys of stream as AsyncIterable<string[]>) if (keys.length > 0) await client.unlink(...keys);
      } finally {
        client.disconnect();
      }
    },
  };
}

export function postgresBackend(): Backend {
  const table = uniqueName();
  const connectionString = services.postgres.url;
  return {
    name: "postgres",
    service: "postgres",
    async setUp() {
      const store = new PostgresStore({ connectionString, table });
      await store.migrate();
      await store.close();
      return { kind: "postgres", connectionString, table };
    },
    async tearDown() {
      const client = new pg.Client({ connectionString });
      await client.connect();
      try {
        await client.query(`DROP TABLE IF EXISTS "${table}"`);
      } finally {
        await client.end();
      }
    },
  };
}

export function mysqlBackend(): Backend {
  const table = uniqueName();
  const uri = services.mysql.url;
  return {
    name: "mysql (MariaDB)",
    service: "mysql",
    async setUp() {
      const store = new MySqlStore({ uri, table });
      await store.migrate();
      await store.close();
      return { kind: "mysql", uri, table };
    },
    async tearDown() {
      const connection = await mysql.createConnection({ uri });
      try {
        await connection.query(`DROP TABLE IF EXISTS \`${table}\``);
      } finally {
        await connection.end();
      }
    },
  };
}

/** dynalite (a local DynamoDB on in-memory LevelDB), listening on a 127.0.0.1 port that all four workers share. */
export function dynamodbBackend(): Backend {
  let server: Server | undefined;
  return {
    name: "dynamodb (dynalite)",
    async setUp() {
      // dynalite ships no types.
      const dynalite = createRequire(import.meta.url)("dynalite") as (options: object) => Server;
      server = dynalite({ createTableMs: 0, deleteTableMs: 0 });
      await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const table = uniqueName();
      const credentials = {
        accessKeyId: dynaliteCredentials.AWS_ACCESS_KEY_ID,
        secretAccessKey: dynaliteCredentials.AWS_SECRET_ACCESS_KEY,
      };
      const { DynamoDBClient } = await import("@aws-sdk/client-dynamodb");
      const client = new DynamoDBClient({ endpoint, region: "us-east-1", credentials });
      await new DynamoDbStore({ client, table }).createTable();
      client.destroy();
      return { kind: "dynamodb", endpoint, table };
    },
    async tearDown() {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}
