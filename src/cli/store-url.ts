import { STORES, storeForScheme } from "../stores/registry.js";
import { StoreUrlError } from "../stores/shared/store-url.js";

export { redactStoreUrl, storeUrlSecrets } from "../stores/shared/redact-url.js";
export { StoreUrlError } from "../stores/shared/store-url.js";

// Store URLs name a store and its options in one string, for the CLI's `--store` and the proxy. Parsing is pure:
// nothing here imports a driver or opens a connection (see open-store.ts for that). Each store parses its own URL
// (`src/stores/<name>/url.ts`); the registry says which scheme belongs to which store.

/** The store the CLI uses when `--store` is not given. */
export const DEFAULT_STORE_URL = "sqlite:./oncely.db";

/** A parsed store URL: which store (its name in the registry), and the options its constructor takes. */
export interface StoreSpec {
  kind: string;
  options: object;
}

/** "memory:, sqlite:, redis://, ... or dynamodb://", for the message a URL without a known scheme gets. */
const SCHEMES = (() => {
  const schemes = STORES.flatMap((entry) =>
    entry.schemes.map((scheme) => (entry.help[0].includes("://") ? `${scheme}://` : `${scheme}:`)),
  );
  return `${schemes.slice(0, -1).join(", ")} or ${schemes.at(-1)}`;
})();

/**
 * Parses a store URL into the store it names and its constructor options.
 *
 * | URL | store |
 * | --- | --- |
 * | `memory:` | `MemoryStore` |
 * | `sqlite:./oncely.db`, `sqlite:///var/lib/oncely.db`, `sqlite::memory:` (`?table=`) | `SqliteStore` |
 * | `redis://host:6379/0`, `rediss://...` (`?prefix=`) | `RedisStore` |
 * | `upstash://HOST?token=...` (or `UPSTASH_REDIS_REST_TOKEN`), `upstash+http://HOST:PORT` (`?prefix=`) | `UpstashStore` |
 * | `postgres://user@host/db`, `postgresql://...` (`?table=`) | `PostgresStore` |
 * | `mysql://user@host/db` (`?table=`, `?dialect=mariadb\|mysql`), `mariadb://...` | `MySqlStore` |
 * | `dynamodb://TABLE?region=eu-west-1&endpoint=http://localhost:8000` | `DynamoDbStore` |
 *
 * Every scheme also takes `?timeout=` (a duration such as `2s`). Parameters oncely does not know are refused for
 * memory, SQLite, DynamoDB and Upstash, and passed on to the driver for Redis, PostgreSQL and MySQL (`sslmode`, `family`...).
 *
 * @param env Where a DynamoDB region is looked up when the URL has none (`AWS_REGION`, `AWS_DEFAULT_REGION`).
 * @throws {StoreUrlError} when the URL cannot be used (the message says why, in one line)
 * @example
 * parseStoreUrl("redis://127.0.0.1:6379?prefix=oncely:");
 * // { kind: "redis", options: { url: "redis://127.0.0.1:6379", prefix: "oncely:" } }
 */
export function parseStoreUrl(url: string, env: Record<string, string | undefined> = process.env): StoreSpec {
  if (typeof url !== "string" || url.trim() === "") throw new StoreUrlError(String(url), `expected ${SCHEMES}`);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  const entry = scheme === undefined ? undefined : storeForScheme(scheme);
  if (!entry) {
    throw new StoreUrlError(
      url,
      scheme ? `unknown scheme "${scheme.toLowerCase()}:"; expected ${SCHEMES}` : `expected ${SCHEMES}`,
    );
  }
  return { kind: entry.name, options: entry.parse(url, env) };
}
