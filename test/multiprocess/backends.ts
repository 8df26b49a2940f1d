import { type ChildProcess, fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDbStore } from "../../src/stores/dynamodb/index.js";
import type { StoreName } from "../../src/stores/registry.js";
import { bundledScript } from "../support/bundled-script.js";
import { type Dynalite, startDynalite } from "../support/dynalite.js";
import { type RedisCluster, startRedisCluster } from "../support/redis-cluster.js";
import {
  createMySqlTable,
  createPostgresTable,
  deleteRedisPrefix,
  dropMySqlTable,
  dropPostgresTable,
} from "../support/scratch.js";
import { type ServiceName, services } from "../support/services.js";
import { dynaliteCredentials, type StoreConfig } from "./store-config.js";

/** One shared backend as the parent prepares it: a fresh table, prefix or file per run, removed afterwards. */
export interface Backend {
  readonly name: string;
  /** The store, by its name in the registry (src/stores/registry.ts). */
  readonly store: StoreName;
  /** Started by the test itself from redis-server (checked with `clusterAvailable`). */
  readonly cluster?: boolean;
  /** The server this backend needs (checked with `serviceAvailable`), if any. */
  readonly service?: ServiceName;
  /** Creates the table (or prefix, or file) the workers share, and returns how they open it. */
  setUp(): Promise<StoreConfig>;
  /** Removes what `setUp` created. Safe to call when `setUp` failed or never ran. */
  tearDown(): Promise<void>;
  /** Sockets per worker, where the backend needs fewer than the default to answer within the store timeout. */
  readonly connectionsPerWorker?: number;
  /**
   * Smaller counts than the issue's, where the backend cannot serve those within a test run; `why` is printed with
   * every run. `ONCELY_MULTIPROCESS_FULL=1` runs the counts anyway.
   */
  readonly reduced?: { oneKeyRequests: number; distinctKeys: number; why: string };
}

const uniqueName = () => `oncely_mp_${randomUUID().slice(0, 8)}`;

export function sqliteBackend(): Backend {
  let dir: string | undefined;
  return {
    name: "sqlite (one WAL file)",
    store: "sqlite",
    // The four workers create the file and its table as they open it, all at once, as four processes of an app
    // would. The parent never loads better-sqlite3: on Node 24 it can abort the process that does (see worker.ts).
    async setUp() {
      dir = mkdtempSync(join(tmpdir(), "oncely-multiprocess-"));
      return { kind: "sqlite", path: join(dir, "records.db") };
    },
    async tearDown() {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function libsqlBackend(): Backend {
  let dir: string | undefined;
  return {
    name: "libsql (one file)",
    store: "libsql",
    async setUp() {
      dir = mkdtempSync(join(tmpdir(), "oncely-multiprocess-libsql-"));
      return { kind: "libsql", url: `file:${join(dir, "records.db")}` };
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
    store: "redis",
    service: "redis",
    async setUp() {
      return { kind: "redis", url: services.redis.url, prefix };
    },
    tearDown: () => deleteRedisPrefix(prefix),
  };
}

/** A Redis Cluster of three masters of its own, started by `setUp` and stopped by `tearDown`. */
export function redisClusterBackend(): Backend {
  const prefix = `oncely-mp:${randomUUID().slice(0, 8)}:`;
  let cluster: RedisCluster | undefined;
  return {
    name: "redis (Cluster, 3 masters)",
    store: "redis",
    cluster: true,
    async setUp() {
      cluster = await startRedisCluster();
      return { kind: "redis-cluster", nodes: [...cluster.nodes], prefix };
    },
    async tearDown() {
      await cluster?.stop();
    },
  };
}

export function postgresBackend(): Backend {
  const table = uniqueName();
  return {
    name: "postgres",
    store: "postgres",
    service: "postgres",
    async setUp() {
      await createPostgresTable(table);
      return { kind: "postgres", connectionString: services.postgres.url, table };
    },
    tearDown: () => dropPostgresTable(table),
  };
}

export function mysqlBackend(): Backend {
  const table = uniqueName();
  return {
    name: "mysql (MariaDB)",
    store: "mysql",
    service: "mysql",
    async setUp() {
      await createMySqlTable(table);
      return { kind: "mysql", uri: services.mysql.url, table };
    },
    tearDown: () => dropMySqlTable(table),
  };
}

/** DynamoDB as dynalite serves it, from a process of its own (test/support/dynalite.ts), on a port the workers share. */
export function dynamodbBackend(): Backend {
  let server: Dynalite | undefined;
  return {
    name: "dynamodb (dynalite)",
    store: "dynamodb",
    // dynalite serves about 130 claims a second here (one core, most of it in its expression parser), and each key
    // costs it 4 requests (claim, refused claim, the read dynalite's missing ALL_OLD needs, complete): 10,000 keys
    // would take 4 to 5 minutes. It serves one request at a time, so a request waits for every one sent before it:
    // its wait is the requests in flight divided by dynalite's rate (Little's law), and more sockets lengthen the
    // wait, not the rate. At load average 24 to 26 on 2 cores it answered about 5 requests a second: with 32 sockets
    // in all, 680 of 1,000 requests on one key answered 503 at the 10 s store timeout. 8 sockets (two per worker, so
    // the first claims still race across all four processes) keep the wait near 2 s there.
    connectionsPerWorker: 2,
    reduced: {
      oneKeyRequests: 1_000,
      distinctKeys: 1_000,
      why: "dynalite handles about 40 keys a second here; 10,000 keys take 4-5 minutes",
    },
    async setUp() {
      server = await startDynalite();
      const { endpoint } = server;
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
      await server?.stop();
    },
  };
}

/**
 * Upstash's REST API as the test fixture serves it (test/support/upstash-rest.ts) in front of the test Redis, from a
 * process of its own that all four workers' HTTP requests reach.
 */
export function upstashBackend(): Backend {
  const prefix = `oncely-mp:${randomUUID().slice(0, 8)}:`;
  let server: ChildProcess | undefined;
  return {
    name: "upstash (REST fixture before Redis)",
    store: "upstash",
    service: "redis",
    reduced: {
      oneKeyRequests: 1_000,
      distinctKeys: 3_000,
      why: "every store call is an HTTP request to the REST fixture, one Node.js process: 10,000 keys took 140 s here",
    },
    async setUp() {
      const script = await bundledScript(new URL("../support/upstash-rest-server.ts", import.meta.url), "upstash-rest");
      server = fork(script, [], {
        execArgv: [],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      const [{ url, token }] = (await once(server, "message")) as [{ url: string; token: string }];
      return { kind: "upstash", url, token, prefix };
    },
    async tearDown() {
      if (server && server.exitCode === null && server.signalCode === null) {
        const exited = once(server, "exit");
        server.disconnect();
        await exited;
      }
      await deleteRedisPrefix(prefix);
    },
  };
}

/** One backend per store that processes can share (every registry entry with `shared`). */
export function sharedBackends(): Backend[] {
  return [
    sqliteBackend(),
    libsqlBackend(),
    redisBackend(),
    upstashBackend(),
    postgresBackend(),
    mysqlBackend(),
    dynamodbBackend(),
  ];
}
