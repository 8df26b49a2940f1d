import { existsSync } from "node:fs";
import { StoreError } from "../core/errors.js";
import type { Store } from "../core/store.js";
import { scrubSecrets } from "./redact-url.js";
import { type StoreKind, type StoreSpec, StoreUrlError, storeUrlSecrets } from "./store-url.js";

/**
 * Thrown when a store URL names a store whose driver package is not installed. A `StoreError`, so callers that map
 * store failures (exit code 3, HTTP 503) treat it like any store that cannot be reached.
 */
export class StoreDriverMissingError extends StoreError {
  override readonly name = "StoreDriverMissingError";
  override readonly code = "store_driver_missing";
  /** The npm package to install. */
  readonly packageName: string;

  constructor(store: string, packageName: string, options: { cause?: unknown } = {}) {
    super(store, "open", `failed: the "${packageName}" package is not installed (npm install ${packageName})`, options);
    this.packageName = packageName;
  }
}

export interface OpenStoreOptions {
  /** The per-operation timeout for a URL that sets none, ms. @default the store's own (1000) */
  timeout?: number;
  /**
   * When false, a SQLite file that does not exist is an error instead of being created: an operator's tool should
   * not leave an empty database behind a typo.
   * @default true
   */
  create?: boolean;
  /** The URL the spec came from, for messages (already redacted). */
  url?: string;
}

/** The package each store's driver comes from. The `import()`s stay literal so bundlers can see them. */
const DRIVERS: Record<Exclude<StoreKind, "memory">, [pkg: string, load: () => Promise<unknown>]> = {
  // SqliteStore's own choice: node:sqlite where the runtime has it built in, better-sqlite3 otherwise.
  sqlite: [
    "better-sqlite3",
    () => import("../stores/sqlite/driver.js").then((driver) => driver.loadSqliteDriver(undefined)),
  ],
  redis: ["ioredis", () => import("ioredis")],
  postgres: ["pg", () => import("pg")],
  mysql: ["mysql2", () => import("mysql2/promise")],
  dynamodb: ["@aws-sdk/client-dynamodb", () => import("@aws-sdk/client-dynamodb")],
};

/**
 * Creates the store a parsed store URL names. The driver is loaded here, so a missing package fails now with a
 * `StoreDriverMissingError` rather than at the first operation; no connection is opened yet (stores connect lazily).
 *
 * @throws {StoreDriverMissingError} when the store's driver package is not installed
 * @throws {StoreUrlError} when the store refuses an option from the URL (a table name, a prefix)
 * @throws {StoreError} when `create: false` and the SQLite file does not exist
 * @example
 * const store = await openStore(parseStoreUrl("sqlite:./oncely.db"), { create: false });
 */
export async function openStore(spec: StoreSpec, options: OpenStoreOptions = {}): Promise<Store> {
  if (spec.kind === "memory") {
    const { MemoryStore } = await import("../stores/memory/index.js");
    return new MemoryStore();
  }
  const [pkg, load] = DRIVERS[spec.kind];
  try {
    await load();
  } catch (error) {
    // Only a missing package is reported as such; a package that fails to load (a native build for another Node.js
    // ABI) keeps its own error.
    if (!String((error as { code?: string }).code).includes("MODULE_NOT_FOUND")) {
      throw new StoreError(spec.kind, "open", `failed to load "${pkg}": ${(error as Error).message}`, { cause: error });
    }
    throw new StoreDriverMissingError(spec.kind, pkg, { cause: error });
  }
  const timeout = options.timeout === undefined ? {} : { timeout: options.timeout };
  try {
    switch (spec.kind) {
      case "sqlite": {
        const { path } = spec.options;
        if (options.create === false && path !== ":memory:" && !existsSync(path)) {
          throw new StoreError("sqlite", "open", `failed: no database file at ${path}`);
        }
        const { SqliteStore } = await import("../stores/sqlite/index.js");
        return new SqliteStore({ ...timeout, ...spec.options });
      }
      case "redis": {
        const { RedisStore } = await import("../stores/redis/index.js");
        return new RedisStore({ ...timeout, ...spec.options });
      }
      case "postgres": {
        const { PostgresStore } = await import("../stores/postgres/index.js");
        return new PostgresStore({ ...timeout, ...spec.options });
      }
      case "mysql": {
        const { MySqlStore } = await import("../stores/mysql/index.js");
        return new MySqlStore({ ...timeout, ...spec.options });
      }
      case "dynamodb": {
        const { DynamoDbStore } = await import("../stores/dynamodb/index.js");
        return new DynamoDbStore({ ...timeout, ...spec.options });
      }
    }
  } catch (error) {
    // A store's constructor validates what the URL carried (table, prefix): that is a bad URL, not a failing store.
    // The store names the value it refused, which came from the URL and may hold what the author meant as a password.
    if (error instanceof TypeError) {
      const reason = options.url ? scrubSecrets(error.message, storeUrlSecrets(options.url)) : error.message;
      throw new StoreUrlError(options.url ?? spec.kind, reason);
    }
    throw error;
  }
}
