import { Cluster } from "ioredis";
import type { Store } from "../../src/core/store.js";
import { DynamoDbStore } from "../../src/stores/dynamodb/index.js";
import { LibsqlStore } from "../../src/stores/libsql/index.js";
import { MySqlStore } from "../../src/stores/mysql/index.js";
import { PostgresStore } from "../../src/stores/postgres/index.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";
import { UpstashStore } from "../../src/stores/upstash/index.js";

/**
 * Everything a worker process needs to open the shared store, as plain JSON: it crosses the process boundary in an
 * environment variable. The parent picks the unique table, prefix or file; every worker opens the same one.
 */
export type StoreConfig =
  | { kind: "sqlite"; path: string }
  | { kind: "libsql"; url: string }
  | { kind: "redis"; url: string; prefix: string }
  | { kind: "redis-cluster"; nodes: { host: string; port: number }[]; prefix: string }
  | { kind: "postgres"; connectionString: string; table: string }
  | { kind: "mysql"; uri: string; table: string }
  | { kind: "dynamodb"; endpoint: string; table: string }
  | { kind: "upstash"; url: string; token: string; prefix: string };

/** dynalite accepts any credentials; they are passed explicitly so a developer's own AWS profile is never read. */
export const dynaliteCredentials = { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" };

/**
 * Opens the store a config names. `timeout` bounds each store operation (for SQLite: the wait for the write lock);
 * everything else is the store's default.
 */
export function openStore(config: StoreConfig, timeout: number): Store {
  switch (config.kind) {
    case "sqlite":
      return new SqliteStore({ path: config.path, timeout });
    case "libsql":
      return new LibsqlStore({ url: config.url, timeout });
    case "redis":
      return new RedisStore({ url: config.url, prefix: config.prefix, timeout });
    case "redis-cluster":
      return new RedisStore({ client: new Cluster(config.nodes), prefix: config.prefix, timeout });
    case "postgres":
      return new PostgresStore({ connectionString: config.connectionString, table: config.table, timeout });
    case "mysql":
      return new MySqlStore({ uri: config.uri, table: config.table, timeout });
    case "dynamodb":
      return new DynamoDbStore({ region: "us-east-1", endpoint: config.endpoint, table: config.table, timeout });
    case "upstash":
      return new UpstashStore({ url: config.url, token: config.token, prefix: config.prefix, timeout });
  }
}
