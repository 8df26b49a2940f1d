import { randomUUID } from "node:crypto";
import type { Store } from "../../../src/core/store.js";
import { MySqlStore } from "../../../src/stores/mysql/index.js";
import { PostgresStore } from "../../../src/stores/postgres/index.js";
import { RedisStore } from "../../../src/stores/redis/index.js";
import {
  createMySqlTable,
  createPostgresTable,
  deleteRedisPrefix,
  dropMySqlTable,
  dropPostgresTable,
} from "../../support/scratch.js";
import { type ServiceName, services } from "../../support/services.js";

/**
 * A networked store reached at a given address (the fault proxy's, or the server's own). Each backend gets a table
 * or key prefix of its own per run; `tearDown` removes it over a direct connection, never through the proxy.
 */
export interface NetworkedBackend {
  readonly name: string;
  readonly service: ServiceName;
  /** The real server. */
  readonly target: { host: string; port: number };
  /** Creates the table (or picks the prefix). */
  setUp(): Promise<void>;
  /**
   * Opens a store the way an app would from a URL, so the store's own driver settings (connect timeout, ioredis's
   * reconnect and offline queue, pg's and mysql2's pools) are what is tested.
   */
  open(address: { host: string; port: number }, timeout: number): Store;
  tearDown(): Promise<void>;
}

const unique = () => `oncely_rel_${randomUUID().slice(0, 8)}`;

export function redisBackend(): NetworkedBackend {
  const prefix = `oncely-rel:${randomUUID().slice(0, 8)}:`;
  return {
    name: "redis",
    service: "redis",
    target: services.redis,
    async setUp() {},
    open: ({ host, port }, timeout) => new RedisStore({ url: `redis://${host}:${port}`, prefix, timeout }),
    tearDown: () => deleteRedisPrefix(prefix),
  };
}

export function postgresBackend(): NetworkedBackend {
  const table = unique();
  const { url } = services.postgres;
  return {
    name: "postgres",
    service: "postgres",
    target: services.postgres,
    setUp: () => createPostgresTable(table),
    open: ({ host, port }, timeout) =>
      new PostgresStore({ connectionString: withAddress(url, host, port), table, timeout }),
    tearDown: () => dropPostgresTable(table),
  };
}

export function mysqlBackend(): NetworkedBackend {
  const table = unique();
  const { url } = services.mysql;
  return {
    name: "mysql (MariaDB)",
    service: "mysql",
    target: services.mysql,
    setUp: () => createMySqlTable(table),
    open: ({ host, port }, timeout) => new MySqlStore({ uri: withAddress(url, host, port), table, timeout }),
    tearDown: () => dropMySqlTable(table),
  };
}

export const networkedBackends = () => [redisBackend(), postgresBackend(), mysqlBackend()];

function withAddress(url: string, host: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = host;
  parsed.port = String(port);
  return parsed.toString();
}
