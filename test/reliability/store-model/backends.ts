import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { type Cluster, Redis } from "ioredis";
import mysql from "mysql2/promise";
import pg from "pg";
import type { Store } from "../../../src/core/store.js";
import { DynamoDbStore } from "../../../src/stores/dynamodb/index.js";
import { LibsqlStore } from "../../../src/stores/libsql/index.js";
import { MemoryStore } from "../../../src/stores/memory/index.js";
import { MySqlStore } from "../../../src/stores/mysql/index.js";
import { PostgresStore } from "../../../src/stores/postgres/index.js";
import { RedisStore } from "../../../src/stores/redis/index.js";
import type { StoreName } from "../../../src/stores/registry.js";
import { SqliteStore } from "../../../src/stores/sqlite/index.js";
import { UpstashStore } from "../../../src/stores/upstash/index.js";
import { startDynalite } from "../../support/dynalite.js";
import { clusterAvailable, startRedisCluster } from "../../support/redis-cluster.js";
import { type ServiceName, serviceAvailable, services } from "../../support/services.js";
import { startUpstashRest } from "../../support/upstash-rest.js";
import type { Subject } from "./commands.js";
import type { Timing } from "./model.js";

/**
 * Each store on its real backend, as a `Subject` the runner plays against. Memory and SQLite run on an injected
 * clock, exact to the millisecond; the networked stores on short real leases and ttls, judged by the backend's clock.
 */
export interface Backend {
  name: string;
  /** The store, by its name in the registry (src/stores/registry.ts). */
  store: StoreName;
  /** A Redis Cluster the backend starts itself (checked with `clusterAvailable`). */
  cluster?: boolean;
  /** The service it needs, checked (and skipped, or failed under ONCELY_REQUIRE_SERVICES=1) before it runs. */
  service?: ServiceName;
  open(): Promise<{ subject: Subject; close(): Promise<void> }>;
}

/** On an injected clock: every lease and ttl edge is hit exactly by a wait of 1 ms less, exactly, or 1 ms more. */
const injectedTiming: Timing = { lease: 1_000, claimTtl: 3_000, completeTtl: [1_500, 5_000] };
const injectedWaits = [1, 500, 999, 1_000, 1_001, 1_500, 3_000] as const;

/** Real time: leases and ttls of hundreds of ms, waits that land on either side of them. */
const realTiming: Timing = { lease: 200, claimTtl: 600, completeTtl: [300, 1_000] };
const realWaits = [10, 100, 205, 310, 610] as const;

function injected(store: (now: () => number) => Store, cleanup: () => Promise<void> = async () => {}) {
  let clock = 1_700_000_000_000;
  const subject: Subject = {
    store: store(() => clock),
    timing: injectedTiming,
    waits: injectedWaits,
    wait: async (ms) => {
      clock += ms;
    },
    during: () => ({ lo: clock, hi: clock }),
    now: () => clock,
    slack: 0,
  };
  return {
    subject,
    close: async () => {
      await subject.store.close();
      await cleanup();
    },
  };
}

/**
 * How far the backend's clock may sit from ours, ms: the worst of a few samples of (backend time) outside (sent,
 * answered), plus 2 ms for the rounding of both clocks to milliseconds. On one host it is those 2 ms.
 */
async function marginOf(backendNow: () => Promise<number>): Promise<number> {
  let skew = 0;
  for (let i = 0; i < 5; i++) {
    const sent = Date.now();
    const theirs = await backendNow();
    const answered = Date.now();
    skew = Math.max(skew, theirs - answered, sent - theirs);
  }
  return Math.ceil(skew) + 2;
}

function real(store: Store, margin: number, close: () => Promise<void>) {
  const subject: Subject = {
    store,
    timing: realTiming,
    waits: realWaits,
    wait: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    during: (sent, answered) => ({ lo: sent - margin, hi: answered + margin }),
    now: Date.now,
    slack: 1,
  };
  return {
    subject,
    close: async () => {
      await store.close();
      await close();
    },
  };
}

/** A RedisStore on its own prefix, judged by the server's clock (`TIME`; on a Cluster, whichever node answers). */
async function redisSubject(
  client: Redis | Cluster,
  close: (prefix: string) => Promise<void>,
  store: (prefix: string) => Store = (prefix) => new RedisStore({ client, prefix }),
) {
  const prefix = `oncely-model:${randomUUID().slice(0, 8)}:`;
  const margin = await marginOf(async () => {
    const [seconds, micros] = await client.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  });
  return real(store(prefix), margin, () => close(prefix));
}

/** Every key under `prefix` removed, then the client closed. */
async function dropPrefix(client: Redis, prefix: string): Promise<void> {
  const keys = await client.keys(`${prefix}*`);
  if (keys.length > 0) await client.unlink(...keys);
  await client.quit();
}

/**
 * A MySqlStore on a table of its own, judged by the server's clock. The MySQL 8 path on MariaDB reads the server's
 * clock the same way; its margin is the rounding alone, as in the runs it was written for.
 */
async function mysqlSubject(dialect: "mariadb" | "mysql") {
  const pool = mysql.createPool({ uri: services.mysql.url, connectionLimit: 4 });
  const table = `oncely_model_${randomUUID().slice(0, 8)}`;
  const store = new MySqlStore({ pool, table, ...(dialect === "mysql" ? { dialect } : {}) });
  await store.migrate();
  const margin =
    dialect === "mysql"
      ? 2
      : await marginOf(async () => {
          const [rows] = await pool.query("SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(3)) AS us");
          return Math.floor(Number((rows as { us: number | string }[])[0]!.us) / 1000);
        });
  return real(store, margin, async () => {
    await pool.query(`DROP TABLE IF EXISTS \`${table}\``);
    await pool.end();
  });
}

export const backends: Backend[] = [
  { name: "memory", store: "memory", open: async () => injected((now) => new MemoryStore({ now })) },
  {
    name: "sqlite",
    store: "sqlite",
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), "oncely-model-"));
      return injected(
        (now) => new SqliteStore({ path: join(dir, "model.db"), now }),
        async () => rmSync(dir, { recursive: true, force: true }),
      );
    },
  },
  {
    name: "libsql (file)",
    store: "libsql",
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), "oncely-model-libsql-"));
      return injected(
        (now) => new LibsqlStore({ url: `file:${join(dir, "model.db")}`, now }),
        async () => rmSync(dir, { recursive: true, force: true }),
      );
    },
  },
  {
    name: "redis",
    store: "redis",
    service: "redis",
    open: async () => {
      const client = new Redis(services.redis.url);
      return redisSubject(client, (prefix) => dropPrefix(client, prefix));
    },
  },
  {
    // Upstash's REST API as the test fixture serves it, before the same Redis: the server's clock is read over TCP.
    name: "upstash (REST fixture before Redis)",
    store: "upstash",
    service: "redis",
    open: async () => {
      const rest = await startUpstashRest();
      const client = new Redis(services.redis.url);
      return redisSubject(
        client,
        async (prefix) => {
          await rest.close();
          await dropPrefix(client, prefix);
        },
        (prefix) => new UpstashStore({ url: rest.url, token: rest.token, prefix }),
      );
    },
  },
  {
    name: "redis (Cluster, 3 masters)",
    store: "redis",
    cluster: true,
    open: async () => {
      const cluster = await startRedisCluster();
      const client = cluster.client();
      return redisSubject(client, async () => {
        client.disconnect();
        await cluster.stop();
      });
    },
  },
  {
    name: "postgres",
    store: "postgres",
    service: "postgres",
    open: async () => {
      const pool = new pg.Pool({ connectionString: services.postgres.url, max: 4 });
      const table = `oncely_model_${randomUUID().slice(0, 8)}`;
      const store = new PostgresStore({ pool, table });
      await store.migrate();
      const margin = await marginOf(async () => {
        const { rows } = await pool.query("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now");
        return Math.floor(Number(rows[0].now));
      });
      return real(store, margin, async () => {
        await pool.query(`DROP TABLE IF EXISTS "${table}"`);
        await pool.end();
      });
    },
  },
  {
    name: "mysql (MariaDB)",
    store: "mysql",
    service: "mysql",
    open: () => mysqlSubject("mariadb"),
  },
  {
    // MySQL 8 has no RETURNING: the claim is the same upsert, then a read. MariaDB runs that path too.
    name: "mysql (MySQL 8 path, on MariaDB)",
    store: "mysql",
    service: "mysql",
    open: () => mysqlSubject("mysql"),
  },
  {
    name: "dynamodb (dynalite)",
    store: "dynamodb",
    open: async () => {
      // dynalite (a local DynamoDB) in a process of its own, as the multi-process test runs it: in this one its
      // expression parser would hold up our event loop, and every call's interval (the model's margin) with it.
      const server = await startDynalite();
      const credentials = { accessKeyId: "test", secretAccessKey: "test" };
      const client = new DynamoDBClient({ endpoint: server.endpoint, region: "us-east-1", credentials });
      const store = new DynamoDbStore({ client, table: `oncely_model_${randomUUID().slice(0, 8)}`, timeout: "5s" });
      await store.createTable();
      // The store reads our own clock: no skew, only the rounding to milliseconds.
      return real(store, 2, async () => {
        client.destroy();
        await server.stop();
      });
    },
  },
];

export async function available(backend: Backend): Promise<boolean> {
  if (backend.cluster) return clusterAvailable();
  return backend.service === undefined || (await serviceAvailable(backend.service));
}
