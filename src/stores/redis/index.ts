/**
 * A store on Redis or Valkey (standalone or Cluster) through ioredis, iovalkey or node-redis.
 *
 * @module oncely/stores/redis
 */
import type { Cluster, Redis } from "ioredis";
import { type Duration, toMilliseconds } from "../../core/duration.js";
import { StoreTimeoutError } from "../../core/errors.js";
import type { StreamRead, StreamStore } from "../../core/store.js";
import { storeCall } from "../../core/store-call.js";
import { rejectUnknownOptions } from "../../core/unknown-options.js";
import { loadDriver } from "../shared/optional-driver.js";
import { type IoredisClient, ioredisConnection, isIoredis } from "./ioredis.js";
import { isNodeRedis, isNodeRedisCluster, type NodeRedisClient, nodeRedisConnection } from "./node-redis.js";
import { type ScriptConnection, ScriptStore } from "./script-store.js";
import { appendEntries, BlockingReads, readEntries } from "./stream.js";

export type { NodeRedisClient } from "./node-redis.js";
export { ScriptStore } from "./script-store.js";

/** Options of `RedisStore`: a client or a URL, the key prefix, and timeouts. */
export interface RedisStoreOptions {
  /**
   * A client you configured, which the store never closes:
   * - an ioredis `Redis` or `Cluster`, or an iovalkey one (its fork, same API; pass it with a cast to this type). The
   *   store registers its Lua scripts on it (`defineCommand`). Its own settings decide how it queues commands while
   *   disconnected; `timeout` bounds each operation either way. On a `Redis`, what the store's operations write in one
   *   turn of the event loop leaves in one write (the store corks the socket until the loop's check phase).
   * - a node-redis client (`createClient()` from `redis` 5 or newer), connected by you; not a node-redis Cluster.
   */
  client?: Redis | Cluster | NodeRedisClient;
  /**
   * A `redis://` or `rediss://` URL: the store opens its own connection on first use (and closes it on `close()`),
   * set to fail fast while Redis is unreachable. Give either `client` or `url`.
   */
  url?: string;
  /**
   * Prepended to every key (after the client's own `keyPrefix`, if any). A record lives at `<prefix>{<id>}`: the
   * braces are a Cluster hash tag, so all keys of one record share a slot.
   * @default "oncely:"
   */
  prefix?: string;
  /**
   * Bounds each operation, connecting included; on expiry it fails with a `StoreTimeoutError` (answered 503).
   * @default 1000
   */
  timeout?: Duration;
}

/** Every option name, checked against `RedisStoreOptions` by the compiler, for refusing a misspelled one. */
const OPTION_NAMES: Record<keyof RedisStoreOptions, true> = { client: true, url: true, prefix: true, timeout: true };

/**
 * Keeps records in Redis 6+ or Valkey (standalone or Cluster) through ioredis, iovalkey or node-redis: one hash per record, each operation
 * one Lua script, so a claim is atomic and one round trip, and leases and expiry follow the Redis server's clock.
 * The same scripts keep an index per prefix (a sorted set of record ids by creation time), so `list`, `aggregate` and
 * `purgeExpired` cost what oncely stored, however many other keys the server holds.
 *
 * @example
 * const store = new RedisStore({ client: new Redis(process.env.REDIS_URL) });
 * const idem = createIdempotency({ store });
 */
export class RedisStore extends ScriptStore implements StreamStore {
  readonly name = "redis";
  readonly #options: RedisStoreOptions;
  readonly #timeout: number;
  /** The store's own client, made from `url`. */
  #own: Redis | undefined;
  #connecting: Promise<void> | undefined;
  #lastError: Error | undefined;
  /** A PING in flight after an operation timed out on the store's own connection (see `#suspect`). */
  #probing = false;
  /** The connections followers of a stream block on (see stream.ts). */
  readonly #blocking = new BlockingReads();

  constructor(options: RedisStoreOptions) {
    rejectUnknownOptions("RedisStore", options ?? {}, Object.keys(OPTION_NAMES));
    const { client, url, prefix = "oncely:" } = options ?? {};
    if ((client === undefined) === (url === undefined)) {
      throw new TypeError("Expected exactly one of `client` (an ioredis, iovalkey or node-redis client) and `url`");
    }
    if (isNodeRedisCluster(client)) {
      throw new TypeError(
        "A node-redis Cluster (`createCluster()`) is not taken: its commands need the key that routes them, and the " +
          "store's index walks need each master. Pass an ioredis or iovalkey `Cluster`, or a node-redis (5 or newer) client",
      );
    }
    if (client !== undefined && !isIoredis(client) && !isNodeRedis(client)) {
      throw new TypeError(
        "Expected `client` to be an ioredis or iovalkey Redis or Cluster, or a node-redis (5 or newer) client",
      );
    }
    if (url !== undefined && (typeof url !== "string" || !/^rediss?:$/.test(URL.parse(url)?.protocol ?? ""))) {
      throw new TypeError(`Expected \`url\` to be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
    }
    const timeout = toMilliseconds(options.timeout ?? 1000, "timeout");
    super(prefix, timeout);
    this.#options = options;
    this.#timeout = timeout;
  }

  /** One script: fenced by the token, by the server's clock. */
  appendStream(id: string, token: number, entries: Uint8Array[], ttl: number): Promise<boolean> {
    return this.operation("appendStream", (connection) =>
      appendEntries(connection, this.recordKey(id), token, entries, ttl),
    );
  }

  /**
   * One script reads the run's state and entries; with nothing new, the follower blocks on the run's stream
   * (`XREAD BLOCK`, on a connection of its own) until the next append or `wait`, then reads again. On a node-redis
   * client it pauses instead (up to 50 ms, then reads again): blocking reads are ioredis's `duplicate()` here.
   */
  readStream(id: string, token: number, from: number, wait: number): Promise<StreamRead> {
    const key = this.recordKey(id);
    return this.operation(
      "readStream",
      async (connection) => {
        const read = await readEntries(connection, key, token, from);
        if (read.entries.length > 0 || read.state !== "held" || wait <= 0) return read;
        const blocking = this.#ioredis();
        if (blocking) await this.#blocking.wait(blocking, key, token, from, wait);
        else await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 50)));
        return readEntries(connection, key, token, from);
      },
      this.timeout * 2 + wait,
    );
  }

  /** The ioredis (or iovalkey) client the store runs on, if it is one. */
  #ioredis(): IoredisClient | undefined {
    const { client } = this.#options;
    if (!client) return this.#own;
    return isIoredis(client) ? client : undefined;
  }

  /** @internal */
  protected async disconnect(): Promise<void> {
    this.#blocking.close();
    const client = this.#own;
    if (!client) return;
    // QUIT lets replies already on their way arrive; disconnect() then stops any reconnect timer.
    if (client.status === "ready") {
      await storeCall(this.name, "close", this.#timeout, () => client.quit()).catch(() => {});
    }
    client.disconnect();
  }

  /**
   * Runs one operation under one deadline, connecting first if the store owns the connection.
   * @internal
   */
  protected call<T>(operation: string, body: () => Promise<T>, timeout: number): Promise<T> {
    const own = this.#own;
    // Ready, the body goes at once: no step of the event loop more than the operation's own.
    const run = storeCall(
      this.name,
      operation,
      timeout,
      own && own.status !== "ready"
        ? async () => {
            await this.#ready(own);
            return body();
          }
        : body,
    );
    if (!own) return run;
    return run.catch((error: unknown) => {
      if (error instanceof StoreTimeoutError) this.#suspect(own);
      throw error;
    });
  }

  /**
   * An operation on the store's own connection went unanswered for its whole timeout. Either Redis is slow, or the
   * connection is dead without knowing it (a firewall or NAT forgot it, a failover moved the server): then every
   * later command would wait on it until TCP gives up, many minutes later, and ioredis never reconnects. A PING
   * tells the two apart: if it is not answered within the timeout either, the connection is dropped and ioredis
   * opens a new one (commands still waiting on the old one fail at once; the store already answered them).
   */
  #suspect(client: Redis): void {
    if (this.#probing || this.closed || client.status !== "ready") return;
    this.#probing = true;
    storeCall(this.name, "ping", this.#timeout, () => client.ping())
      .catch((error: unknown) => {
        if (error instanceof StoreTimeoutError && !this.closed && client.status === "ready") client.disconnect(true);
      })
      .finally(() => {
        this.#probing = false;
      });
  }

  /**
   * The caller's client as a connection, or the store's own ioredis client (no network yet) made from `url`.
   * @internal
   */
  protected async connect(): Promise<ScriptConnection> {
    const { client } = this.#options;
    if (client && isNodeRedis(client)) return nodeRedisConnection(client);
    if (client) return ioredisConnection(client as IoredisClient);
    this.#own = await this.#create(this.#options.url!);
    return ioredisConnection(this.#own);
  }

  async #create(url: string): Promise<Redis> {
    const { Redis: Driver } = await loadDriver("redis", "RedisStore", "ioredis", () => import("ioredis"));
    const client = new Driver(url, {
      lazyConnect: true,
      connectTimeout: this.#timeout,
      // While disconnected a command fails at once instead of waiting in a queue and landing late; one already
      // sent when the connection drops is failed too, never resent. The client reconnects in the background.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
    });
    // The cause reaches callers through the failed operation; without a listener ioredis would also log it.
    client.on("error", (error: Error) => {
      this.#lastError = error;
    });
    client.on("ready", () => {
      this.#lastError = undefined;
    });
    return client;
  }

  /** Connects the store's own client on first use; later, while it reconnects, fails at once with the last error. */
  async #ready(client: Redis): Promise<void> {
    if (client.status === "wait") {
      this.#connecting ??= client.connect().finally(() => {
        this.#connecting = undefined;
      });
    }
    if (this.#connecting) {
      await this.#connecting.catch((error: unknown) => {
        throw this.#lastError ?? error;
      });
    } else if (client.status !== "ready") {
      throw new Error(`not connected (${client.status})${this.#lastError ? `: ${this.#lastError.message}` : ""}`);
    }
  }
}
