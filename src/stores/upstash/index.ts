/**
 * A store on Upstash Redis over its REST API (HTTP), through `@upstash/redis`: for Vercel, Cloudflare Workers and
 * other runtimes without TCP.
 *
 * @module oncely/stores/upstash
 */
import type { Redis } from "@upstash/redis";
import { type Duration, toMilliseconds } from "../../core/duration.js";
import { storeCall } from "../../core/store-call.js";
import { rejectUnknownOptions } from "../../core/unknown-options.js";
import { type ScriptConnection, ScriptStore } from "../redis/script-store.js";
import { loadDriver } from "../shared/optional-driver.js";
import { upstashConnection } from "./connection.js";

/** Options of `UpstashStore`: an `@upstash/redis` client, or the database's REST URL and token; the key prefix. */
export interface UpstashStoreOptions {
  /**
   * A `Redis` from `@upstash/redis` you configured, created with `automaticDeserialization: false` (the store reads
   * replies itself; the default would turn a stored JSON string into an object). The store never closes it.
   */
  client?: Redis;
  /** The database's REST URL (`UPSTASH_REDIS_REST_URL`): the store creates its own client. Give `token` with it. */
  url?: string;
  /** The database's REST token (`UPSTASH_REDIS_REST_TOKEN`), with `url`. */
  token?: string;
  /**
   * Prepended to every key. A record lives at `<prefix>{<id>}`, in the same layout as `RedisStore`'s.
   * @default "oncely:"
   */
  prefix?: string;
  /**
   * Bounds each operation (one HTTP request, or two the first time a script meets the database); on expiry it fails
   * with a `StoreTimeoutError` (answered 503).
   * @default 2000
   */
  timeout?: Duration;
}

/** Every option name, checked against `UpstashStoreOptions` by the compiler, for refusing a misspelled one. */
const OPTION_NAMES: Record<keyof UpstashStoreOptions, true> = {
  client: true,
  url: true,
  token: true,
  prefix: true,
  timeout: true,
};

/**
 * Keeps records in Upstash Redis through its REST API: the same Lua scripts and the same hash per record as
 * `RedisStore`, sent as EVALSHA (EVAL the first time the database meets a script). A claim is atomic and one HTTP
 * request; leases and expiry follow the Redis server's clock. Bodies are stored as base64 (the REST API carries
 * text), so they come back byte for byte.
 *
 * @example
 * const store = new UpstashStore({ url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN });
 * const idem = createIdempotency({ store });
 */
export class UpstashStore extends ScriptStore {
  readonly name = "upstash";
  readonly #options: UpstashStoreOptions;

  constructor(options: UpstashStoreOptions) {
    rejectUnknownOptions("UpstashStore", options ?? {}, Object.keys(OPTION_NAMES));
    const { client, url, token, prefix = "oncely:" } = options ?? {};
    if ((client === undefined) === (url === undefined)) {
      throw new TypeError("Expected exactly one of `client` (an @upstash/redis Redis) and `url`");
    }
    if (client !== undefined) {
      if (typeof (client as Partial<Redis>).evalsha !== "function") {
        throw new TypeError("Expected `client` to be a Redis from @upstash/redis");
      }
      // Read from the client's options (not public): a client that deserializes would garble replies, not fail.
      const { opts } = client as unknown as { opts?: { automaticDeserialization?: boolean } };
      if (opts?.automaticDeserialization !== false) {
        throw new TypeError("Expected `client` to be created with `automaticDeserialization: false`");
      }
    }
    if (url !== undefined && (typeof url !== "string" || !/^https?:$/.test(URL.parse(url)?.protocol ?? ""))) {
      throw new TypeError(`Expected \`url\` to be an https:// (or http://) URL, got ${JSON.stringify(url)}`);
    }
    if (url !== undefined && (typeof token !== "string" || token === "")) {
      throw new TypeError("Expected `token` (the database's REST token) with `url`");
    }
    super(prefix, toMilliseconds(options.timeout ?? 2000, "timeout"));
    this.#options = options;
  }

  /**
   * HTTP leaves no connection of the store's own to close.
   * @internal
   */
  protected async disconnect(): Promise<void> {}

  /**
   * Runs one operation under the store's deadline.
   * @internal
   */
  protected call<T>(operation: string, body: () => Promise<T>, timeout: number): Promise<T> {
    return storeCall(this.name, operation, timeout, body);
  }

  /**
   * The caller's client, or one of the store's own: raw replies, no retries (`timeout` bounds each operation).
   * @internal
   */
  protected async connect(): Promise<ScriptConnection> {
    const { client, url, token } = this.#options;
    if (client) return upstashConnection(client);
    const { Redis: Driver } = await loadDriver(
      "upstash",
      "UpstashStore",
      "@upstash/redis",
      () => import("@upstash/redis"),
    );
    return upstashConnection(
      new Driver({ url, token, automaticDeserialization: false, enableAutoPipelining: false, retry: { retries: 0 } }),
    );
  }
}
