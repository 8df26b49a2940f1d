import { existsSync } from "node:fs";
import type { Store } from "../core/store.js";
import { parseDynamoDbUrl } from "./dynamodb/url.js";
import { parseLibsqlUrl } from "./libsql/url.js";
import { parseMemoryUrl } from "./memory/url.js";
import { parseMysqlUrl } from "./mysql/url.js";
import { parsePostgresUrl } from "./postgres/url.js";
import { parseRedisUrl } from "./redis/url.js";
import { loadDriver } from "./shared/optional-driver.js";
import { parseSqliteUrl } from "./sqlite/url.js";
import { parseUpstashUrl } from "./upstash/url.js";

// Every store oncely ships, in one place: the CLI reads its URL schemes, help and drivers from here, and the tests'
// and benchmarks' backend lists are built from it. A new store is a folder under src/stores/ and one entry below.
// The Durable Object store is not listed: it lives inside a Worker, bound by wrangler.toml, and no URL can open it
// from Node.js; its tests run on workerd (test/runtimes/).

/** One store oncely ships: how a URL names it, which driver it needs, and how to build it. */
export interface StoreEntry<Options extends object = object> {
  /** The store's name, as in its errors and events (`redis`). */
  readonly name: string;
  /** The class an app constructs (`RedisStore`). */
  readonly className: string;
  /** The URL schemes that name it, lower case, without the colon. */
  readonly schemes: readonly string[];
  /** How its URL is written, and its parameters, for the CLI's help: one line each. */
  readonly help: readonly [url: string, what: string];
  /** Its driver, an optional peer dependency; none for the stores that need nothing installed. */
  readonly driver?: {
    readonly package: string;
    /** The driver's own `import()`, literal so bundlers see it. */
    readonly load: () => Promise<unknown>;
  };
  /** Whose clock judges leases and expiry: the process's own, or the backend server's. */
  readonly clock: "process" | "server";
  /** Whether several processes can share one store (all but the in-process memory store). */
  readonly shared: boolean;
  /** Whether a route can commit its own writes in the claim's transaction (`transactional: true`). */
  readonly transactional: boolean;
  /**
   * Turns a URL into the store's constructor options. Pure: no driver is imported, no connection opened.
   * @throws {StoreUrlError} when the URL cannot be used
   */
  parse(url: string, env: Record<string, string | undefined>): Options;
  /**
   * For a store kept in a local file: whether the file the options name exists, so that a tool can refuse to create
   * an empty database behind a typo.
   */
  existing?(options: Options): boolean;
  /** Builds the store from those options; its module is imported here, on first use. */
  create(options: Options): Promise<Store>;
}

/** The stores oncely ships, in the order the CLI's help lists them. */
export const STORES = [
  store({
    name: "memory",
    className: "MemoryStore",
    schemes: ["memory"],
    help: ["memory:", "an empty in-process store"],
    clock: "process",
    shared: false,
    transactional: false,
    parse: parseMemoryUrl,
    create: async () => new (await import("./memory/index.js")).MemoryStore(),
  }),
  store({
    name: "sqlite",
    className: "SqliteStore",
    schemes: ["sqlite"],
    help: ["sqlite:./oncely.db", "SQLite file (the default); sqlite:///abs/path.db"],
    // SqliteStore's own choice: node:sqlite where the runtime has it built in, better-sqlite3 otherwise.
    driver: {
      package: "better-sqlite3",
      load: () => import("./sqlite/driver.js").then((driver) => driver.loadSqliteDriver(undefined)),
    },
    clock: "process",
    shared: true,
    transactional: false,
    parse: parseSqliteUrl,
    existing: ({ path }) => path === ":memory:" || existsSync(path),
    create: async (options) => new (await import("./sqlite/index.js")).SqliteStore(options),
  }),
  store({
    name: "redis",
    className: "RedisStore",
    schemes: ["redis", "rediss"],
    help: ["redis://HOST:6379/DB", "Redis (rediss:// for TLS); ?prefix=oncely:"],
    driver: { package: "ioredis", load: () => import("ioredis") },
    clock: "server",
    shared: true,
    transactional: false,
    parse: parseRedisUrl,
    create: async (options) => new (await import("./redis/index.js")).RedisStore(options),
  }),
  store({
    name: "upstash",
    className: "UpstashStore",
    schemes: ["upstash", "upstash+http"],
    help: [
      "upstash://HOST?token=TOKEN",
      "Upstash Redis over REST (or UPSTASH_REDIS_REST_TOKEN); upstash+http:// for HTTP",
    ],
    driver: { package: "@upstash/redis", load: () => import("@upstash/redis") },
    clock: "server",
    shared: true,
    transactional: false,
    parse: parseUpstashUrl,
    create: async (options) => new (await import("./upstash/index.js")).UpstashStore(options),
  }),
  store({
    name: "postgres",
    className: "PostgresStore",
    schemes: ["postgres", "postgresql"],
    help: ["postgres://USER@HOST/DB", "PostgreSQL; ?table=oncely_records"],
    driver: { package: "pg", load: () => import("pg") },
    clock: "server",
    shared: true,
    transactional: true,
    parse: parsePostgresUrl,
    create: async (options) => new (await import("./postgres/index.js")).PostgresStore(options),
  }),
  store({
    name: "mysql",
    className: "MySqlStore",
    schemes: ["mysql", "mariadb"],
    help: ["mysql://USER@HOST/DB", "MySQL 8 or MariaDB (mariadb://); ?table=oncely_records"],
    driver: { package: "mysql2", load: () => import("mysql2/promise") },
    clock: "server",
    shared: true,
    transactional: false,
    parse: parseMysqlUrl,
    create: async (options) => new (await import("./mysql/index.js")).MySqlStore(options),
  }),
  store({
    name: "libsql",
    className: "LibsqlStore",
    schemes: ["libsql"],
    help: ["libsql://HOST", "libSQL server or Turso (?authToken=); libsql:./file.db"],
    driver: { package: "@libsql/client", load: () => import("@libsql/client") },
    clock: "process",
    shared: true,
    transactional: false,
    parse: parseLibsqlUrl,
    create: async (options) => new (await import("./libsql/index.js")).LibsqlStore(options),
  }),
  store({
    name: "dynamodb",
    className: "DynamoDbStore",
    schemes: ["dynamodb"],
    help: ["dynamodb://TABLE?region=R", "DynamoDB; &endpoint=http://localhost:8000"],
    driver: { package: "@aws-sdk/client-dynamodb", load: () => import("@aws-sdk/client-dynamodb") },
    clock: "server",
    shared: true,
    transactional: false,
    parse: parseDynamoDbUrl,
    create: async (options) => new (await import("./dynamodb/index.js")).DynamoDbStore(options),
  }),
] as const;

/** The name of a store oncely ships (`"memory"`, `"redis"`, ...). */
export type StoreName = (typeof STORES)[number]["name"];

/** Types one entry: its options flow from `parse` to `create`. */
function store<const Name extends string, Options extends object>(
  entry: StoreEntry<Options> & { readonly name: Name },
): StoreEntry & { readonly name: Name } {
  return entry;
}

/** The entry whose scheme a URL starts with, or undefined. */
export function storeForScheme(scheme: string): StoreEntry | undefined {
  const lower = scheme.toLowerCase();
  return (STORES as readonly StoreEntry[]).find((entry) => entry.schemes.includes(lower));
}

/** Loads an entry's driver now, so a missing package fails with a `StoreDriverMissingError` before any work. */
export async function loadStoreDriver(entry: StoreEntry): Promise<void> {
  if (entry.driver) await loadDriver(entry.name, entry.className, entry.driver.package, entry.driver.load);
}
