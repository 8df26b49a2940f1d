import { toMilliseconds } from "../core/duration.js";
import { OncelyError } from "../core/errors.js";
import type { DynamoDbStoreOptions } from "../stores/dynamodb/index.js";
import type { MySqlStoreOptions } from "../stores/mysql/index.js";
import type { PostgresStoreOptions } from "../stores/postgres/index.js";
import type { RedisStoreOptions } from "../stores/redis/index.js";
import type { SqliteStoreOptions } from "../stores/sqlite/index.js";
import { redactStoreUrl } from "./redact-url.js";

export { redactStoreUrl, storeUrlSecrets } from "./redact-url.js";

// Store URLs name a store and its options in one string, for the CLI's `--store` and the proxy. Parsing is pure:
// nothing here imports a driver or opens a connection (see open-store.ts for that).

/** The store the CLI uses when `--store` is not given. */
export const DEFAULT_STORE_URL = "sqlite:./oncely.db";

/** A parsed store URL: which store, and the options its constructor takes. */
export type StoreSpec =
  | { kind: "memory" }
  | { kind: "sqlite"; options: SqliteStoreOptions & { path: string } }
  | { kind: "redis"; options: RedisStoreOptions & { url: string } }
  | { kind: "postgres"; options: PostgresStoreOptions & { connectionString: string } }
  | { kind: "mysql"; options: MySqlStoreOptions & { uri: string } }
  | { kind: "dynamodb"; options: DynamoDbStoreOptions & { region: string } };

export type StoreKind = StoreSpec["kind"];

/**
 * Thrown when a store URL cannot be used: unknown scheme, missing part, unknown or invalid parameter. The message is
 * one line and never shows a password from the URL.
 */
export class StoreUrlError extends OncelyError {
  override readonly name = "StoreUrlError";
  override readonly code = "invalid_store_url";
  override readonly title = "Invalid store URL";
  /** The URL as given, with any password replaced by `***`. */
  readonly url: string;

  constructor(url: string, reason: string) {
    super(`invalid store URL ${JSON.stringify(redactStoreUrl(url))}: ${reason}`);
    this.url = redactStoreUrl(url);
  }
}

const SCHEMES = "memory:, sqlite:<file>, redis://, rediss://, postgres://, mysql://, mariadb:// or dynamodb://<table>";

/**
 * Parses a store URL into the store it names and its constructor options.
 *
 * | URL | store |
 * | --- | --- |
 * | `memory:` | `MemoryStore` |
 * | `sqlite:./oncely.db`, `sqlite:///var/lib/oncely.db`, `sqlite::memory:` (`?table=`) | `SqliteStore` |
 * | `redis://host:6379/0`, `rediss://...` (`?prefix=`) | `RedisStore` |
 * | `postgres://user@host/db`, `postgresql://...` (`?table=`) | `PostgresStore` |
 * | `mysql://user@host/db` (`?table=`, `?dialect=mariadb\|mysql`), `mariadb://...` | `MySqlStore` |
 * | `dynamodb://TABLE?region=eu-west-1&endpoint=http://localhost:8000` | `DynamoDbStore` |
 *
 * Every scheme also takes `?timeout=` (a duration such as `2s`). Parameters oncely does not know are refused for
 * memory, SQLite and DynamoDB, and passed on to the driver for Redis, PostgreSQL and MySQL (`sslmode`, `family`...).
 *
 * @param env Where a DynamoDB region is looked up when the URL has none (`AWS_REGION`, `AWS_DEFAULT_REGION`).
 * @throws {StoreUrlError} when the URL cannot be used (the message says why, in one line)
 * @example
 * parseStoreUrl("redis://127.0.0.1:6379?prefix=oncely:");
 * // { kind: "redis", options: { url: "redis://127.0.0.1:6379", prefix: "oncely:" } }
 */
export function parseStoreUrl(url: string, env: Record<string, string | undefined> = process.env): StoreSpec {
  if (typeof url !== "string" || url.trim() === "") throw new StoreUrlError(String(url), `expected ${SCHEMES}`);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case "memory":
      return parseMemory(url);
    case "sqlite":
      return parseSqlite(url);
    case "redis":
    case "rediss":
      return parseRedis(url);
    case "postgres":
    case "postgresql":
      return parsePostgres(url);
    case "mysql":
      return parseMysql(url);
    case "mariadb":
      return parseMysql(url, "mariadb");
    case "dynamodb":
      return parseDynamoDb(url, env);
    default:
      throw new StoreUrlError(url, scheme ? `unknown scheme "${scheme}:"; expected ${SCHEMES}` : `expected ${SCHEMES}`);
  }
}

function parseMemory(url: string): StoreSpec {
  const rest = url.slice("memory:".length);
  if (rest !== "" && rest !== "//")
    throw new StoreUrlError(url, 'memory: takes nothing after the scheme; write "memory:"');
  return { kind: "memory" };
}

function parseSqlite(url: string): StoreSpec {
  const [location, query = ""] = splitQuery(url.slice("sqlite:".length));
  // "sqlite:///abs/file.db" and "sqlite://./file.db" are common spellings of "sqlite:/abs/file.db" and "sqlite:./file.db".
  const raw = location.startsWith("//") ? location.slice(2) : location;
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw new StoreUrlError(url, "the file name has a malformed %-escape");
  }
  if (path === "")
    throw new StoreUrlError(url, 'expected a file name, as in "sqlite:./oncely.db" or "sqlite::memory:"');
  const params = takeParams(url, query, ["table", "timeout"], { strict: true });
  return { kind: "sqlite", options: { path, ...tableOf(params), ...timeoutOf(url, params) } };
}

function parseRedis(url: string): StoreSpec {
  const parsed = parseNetworkUrl(url);
  const params = takeParams(url, parsed.search.slice(1), ["prefix", "timeout"], { strict: false });
  parsed.search = params.rest;
  const prefix = params.known.get("prefix");
  if (prefix === "") throw new StoreUrlError(url, '`prefix` is empty; leave it out for the default "oncely:"');
  return {
    kind: "redis",
    options: { url: parsed.href, ...(prefix === undefined ? {} : { prefix }), ...timeoutOf(url, params) },
  };
}

function parsePostgres(url: string): StoreSpec {
  const parsed = parseNetworkUrl(url);
  const params = takeParams(url, parsed.search.slice(1), ["table", "timeout"], { strict: false });
  parsed.search = params.rest;
  return {
    kind: "postgres",
    options: { connectionString: parsed.href, ...tableOf(params), ...timeoutOf(url, params) },
  };
}

function parseMysql(url: string, impliedDialect?: "mariadb"): StoreSpec {
  const parsed = parseNetworkUrl(url);
  const params = takeParams(url, parsed.search.slice(1), ["table", "timeout", "dialect"], { strict: false });
  parsed.search = params.rest;
  const dialect = params.known.get("dialect") ?? impliedDialect;
  if (dialect !== undefined && dialect !== "mariadb" && dialect !== "mysql") {
    throw new StoreUrlError(url, `\`dialect\` is "${dialect}"; expected "mariadb" or "mysql"`);
  }
  return {
    kind: "mysql",
    options: { uri: parsed.href, ...tableOf(params), ...(dialect ? { dialect } : {}), ...timeoutOf(url, params) },
  };
}

function parseDynamoDb(url: string, env: Record<string, string | undefined>): StoreSpec {
  const [location, query = ""] = splitQuery(url.slice("dynamodb:".length));
  if (!location.startsWith("//")) throw new StoreUrlError(url, 'expected "dynamodb://TABLE?region=..."');
  // Read by hand: URL() lower-cases the host, and DynamoDB table names are case-sensitive.
  const table = location.slice(2).replace(/\/$/, "");
  if (table.includes("/")) throw new StoreUrlError(url, 'expected "dynamodb://TABLE?region=...", with no path');
  const params = takeParams(url, query, ["region", "endpoint", "timeout"], { strict: true });
  const region = params.known.get("region") || env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region) throw new StoreUrlError(url, "no region: add ?region=... (or set AWS_REGION)");
  const endpoint = params.known.get("endpoint");
  if (endpoint !== undefined && !URL.canParse(endpoint)) {
    throw new StoreUrlError(url, `\`endpoint\` is not a URL: ${JSON.stringify(redactStoreUrl(endpoint))}`);
  }
  return {
    kind: "dynamodb",
    options: {
      region,
      ...(table ? { table } : {}),
      ...(endpoint ? { endpoint } : {}),
      ...timeoutOf(url, params),
    },
  };
}

function parseNetworkUrl(url: string): URL {
  const parsed = URL.parse(url);
  if (!parsed || !url.includes("://")) throw new StoreUrlError(url, "not a valid URL");
  if (parsed.hostname === "") throw new StoreUrlError(url, "no host");
  return parsed;
}

function splitQuery(text: string): [string, string | undefined] {
  const at = text.indexOf("?");
  return at === -1 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

interface Params {
  known: Map<string, string>;
  /** The parameters left for the driver, as a query string without "?". */
  rest: string;
}

/** Takes oncely's own parameters out of a query string; with `strict`, any other parameter is refused. */
function takeParams(url: string, query: string, names: readonly string[], { strict }: { strict: boolean }): Params {
  const search = new URLSearchParams(query);
  const known = new Map<string, string>();
  for (const name of names) {
    const values = search.getAll(name);
    if (values.length > 1) throw new StoreUrlError(url, `\`${name}\` is given ${values.length} times`);
    if (values.length === 1) known.set(name, values[0]!);
    search.delete(name);
  }
  const unknown = [...new Set(search.keys())];
  if (strict && unknown.length > 0) {
    const list = unknown.map((name) => `\`${name}\``).join(", ");
    throw new StoreUrlError(
      url,
      `unknown parameter ${list}; this scheme takes ${names.map((n) => `\`${n}\``).join(", ")}`,
    );
  }
  return { known, rest: search.toString() };
}

function tableOf(params: Params): { table?: string } {
  const table = params.known.get("table");
  return table === undefined ? {} : { table };
}

function timeoutOf(url: string, params: Params): { timeout?: number } {
  const value = params.known.get("timeout");
  if (value === undefined) return {};
  try {
    // A bare number is milliseconds, as everywhere in oncely.
    return { timeout: toMilliseconds(/^\d+$/.test(value) ? Number(value) : value, "timeout") };
  } catch {
    throw new StoreUrlError(url, `\`timeout\` is "${value}"; expected a duration such as 500, "2s" or "1m"`);
  }
}
