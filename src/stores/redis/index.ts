/**
 * A store on Redis (standalone or Cluster) through ioredis.
 *
 * @module oncely/stores/redis
 */
import type { Cluster, Redis } from "ioredis";
import { type Duration, toMilliseconds } from "../../core/duration.js";
import { InvalidCursorError, StoreError, StoreTimeoutError } from "../../core/errors.js";
import {
  type AggregateOptions,
  type ClaimOptions,
  type ClaimResult,
  type IdempotencyRecord,
  type ListOptions,
  type ListPage,
  RECORD_FORMAT_VERSION,
  type RecordState,
  type StepRecord,
  type StoreAggregate,
  type StoredResponse,
  type StreamRead,
  type StreamStore,
} from "../../core/store.js";
import { storeCall } from "../../core/store-call.js";
import { rejectUnknownOptions } from "../../core/unknown-options.js";
import { loadDriver } from "../shared/optional-driver.js";
import { checkStep, MAX_STORED_STEPS, tooManySteps } from "../shared/step-record.js";
import { allShards, indexKeys, indexScripts, NON_EMPTY_SHARDS, SCRIPT_BUDGET, shardOf } from "./record-index.js";
import { runScript as call, defineScripts, scripts, stepField, stepsOf, toHash, toRecord } from "./scripts.js";
import { appendEntries, BlockingReads, readEntries, streamScripts } from "./stream.js";

type Client = Redis | Cluster;

/** Options of `RedisStore`: an ioredis client or a URL, the key prefix, and timeouts. */
export interface RedisStoreOptions {
  /**
   * An ioredis `Redis` or `Cluster` you configured. The store registers its Lua scripts on it (`defineCommand`) and
   * never closes it. Its own settings decide how it queues commands while disconnected; `timeout` bounds each
   * operation either way. On a `Redis`, what is written in the tick of a store operation leaves in one write at the
   * end of that tick (the store corks the socket until then).
   */
  client?: Client;
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

const PREFIX = /^[^{}]{1,100}$/;
const MATCH_SPECIAL = /[*?[\]\\]/g;
/** Keys SCAN examines per call (`reindex`). */
const SCAN_COUNT = 1_000;
/** Cluster shards (slots) asked at once by `list`, `aggregate` and `purgeExpired`. */
const SHARDS_PER_BATCH = 512;

/**
 * Keeps records in Redis 6+ (standalone or Cluster) through ioredis: one hash per record, each operation
 * one Lua script, so a claim is atomic and one round trip, and leases and expiry follow the Redis server's clock.
 * The same scripts keep an index per prefix (sorted sets by creation and expiry), so `list`, `aggregate` and
 * `purgeExpired` cost what oncely stored, however many other keys the server holds.
 *
 * @example
 * const store = new RedisStore({ client: new Redis(process.env.REDIS_URL) });
 * const idem = createIdempotency({ store });
 */
export class RedisStore implements StreamStore {
  readonly name = "redis";
  readonly #options: RedisStoreOptions;
  readonly #prefix: string;
  readonly #timeout: number;
  /** list, aggregate and purgeExpired walk the index: they get `timeout` or 30 s, whichever is longer. */
  readonly #scanTimeout: number;
  #client: Promise<Client> | undefined;
  #connecting: Promise<void> | undefined;
  #lastError: Error | undefined;
  /** A PING in flight after an operation timed out on the store's own connection (see `#suspect`). */
  #probing = false;
  #closed = false;
  /** The connections followers of a stream block on (see stream.ts). */
  readonly #blocking = new BlockingReads();

  constructor(options: RedisStoreOptions) {
    rejectUnknownOptions("RedisStore", options ?? {}, Object.keys(OPTION_NAMES));
    const { client, url, prefix = "oncely:" } = options ?? {};
    if ((client === undefined) === (url === undefined)) {
      throw new TypeError("Expected exactly one of `client` (an ioredis Redis or Cluster) and `url`");
    }
    if (client !== undefined && typeof (client as Partial<Client>).defineCommand !== "function") {
      throw new TypeError("Expected `client` to be an ioredis Redis or Cluster");
    }
    if (url !== undefined && (typeof url !== "string" || !/^rediss?:$/.test(URL.parse(url)?.protocol ?? ""))) {
      throw new TypeError(`Expected \`url\` to be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
    }
    if (typeof prefix !== "string" || !PREFIX.test(prefix)) {
      throw new TypeError(
        `Expected \`prefix\` to be 1-100 characters without "{" or "}", got ${JSON.stringify(prefix)}`,
      );
    }
    this.#options = options;
    this.#prefix = prefix;
    this.#timeout = toMilliseconds(options.timeout ?? 1000, "timeout");
    this.#scanTimeout = Math.max(this.#timeout, 30_000);
  }

  claim(id: string, fingerprint: string, options: ClaimOptions): Promise<ClaimResult> {
    return this.#run("claim", async (client) => {
      const meta = JSON.stringify(options.meta);
      const runId = options.runId ?? crypto.randomUUID();
      const work = options.work ? JSON.stringify(options.work) : "";
      const args = [fingerprint, options.lease, options.ttl, meta, RECORD_FORMAT_VERSION, runId, work, id];
      const reply = (await call(client, scripts.claim, ...this.#keys(client, id), ...args)) as Buffer[];
      const status = reply[0]!.toString();
      if (status === "claimed") {
        const [, token, recovered, run, ...steps] = reply as [Buffer, Buffer, Buffer, Buffer, ...Buffer[]];
        return {
          status,
          token: Number(token),
          recovered: Number(recovered) === 1,
          runId: run.toString(),
          steps: stepsOf(toHash(steps)),
        };
      }
      const record = toRecord(id, reply);
      return status === "completed" ? { status, record } : { status: "in-flight", record };
    });
  }

  renew(id: string, token: number, lease: number): Promise<boolean> {
    return this.#run("renew", async (client) => isOne(await call(client, scripts.renew, this.#key(id), token, lease)));
  }

  complete(id: string, token: number, response: StoredResponse, ttl: number): Promise<boolean> {
    return this.#run("complete", async (client) => {
      const { status, headers, body, kept } = response;
      const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      const args = [token, ttl, status, JSON.stringify(headers), bytes, kept ? 1 : 0, id];
      return isOne(await call(client, scripts.complete, ...this.#keys(client, id), ...args));
    });
  }

  release(id: string, token: number): Promise<boolean> {
    return this.#run("release", async (client) =>
      isOne(await call(client, scripts.release, ...this.#keys(client, id), token, id)),
    );
  }

  /** One script: fenced by the token, by the server's clock; a run keeps at most 1,000 steps. */
  async saveStep(id: string, token: number, step: StepRecord): Promise<boolean> {
    checkStep(step);
    return this.#run("saveStep", async (client) => {
      const args = [token, step.name, stepField(step), MAX_STORED_STEPS];
      const reply = Number(await call(client, scripts.saveStep, this.#key(id), ...args));
      if (reply === -1) throw tooManySteps(this.name);
      return reply === 1;
    });
  }

  /**
   * One pipeline of small scripts (HINCRBY on a live completed record; nothing else is touched or created). On a
   * Cluster, whose pipelines stay within one slot, the scripts go out together without one.
   */
  async countReplays(counts: ReadonlyMap<string, number>): Promise<void> {
    if (counts.size === 0) return;
    await this.#run("countReplays", async (client) => {
      const { name } = scripts.countReplays;
      if (client.isCluster) {
        await Promise.all([...counts].map(([id, count]) => call(client, scripts.countReplays, this.#key(id), count)));
        return;
      }
      const pipeline = client.pipeline() as unknown as Record<string, (key: string, count: number) => unknown> & {
        exec(): Promise<[Error | null, unknown][] | null>;
      };
      for (const [id, count] of counts) pipeline[name]!(this.#key(id), count);
      for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
    });
  }

  /** One script: fenced by the token, by the server's clock. */
  appendStream(id: string, token: number, entries: Uint8Array[], ttl: number): Promise<boolean> {
    return this.#run("appendStream", (client) => appendEntries(client, this.#key(id), token, entries, ttl));
  }

  /**
   * One script reads the run's state and entries; with nothing new, the follower blocks on the run's stream
   * (`XREAD BLOCK`, on a connection of its own) until the next append or `wait`, then reads again.
   */
  readStream(id: string, token: number, from: number, wait: number): Promise<StreamRead> {
    return this.#run(
      "readStream",
      async (client) => {
        const read = await readEntries(client, this.#key(id), token, from);
        if (read.entries.length > 0 || read.state !== "held" || wait <= 0) return read;
        await this.#blocking.wait(client, this.#key(id), token, from, wait);
        return readEntries(client, this.#key(id), token, from);
      },
      this.#timeout * 2 + wait,
    );
  }

  get(id: string): Promise<IdempotencyRecord | undefined> {
    return this.#run("get", (client) => this.#read(client, id));
  }

  delete(id: string): Promise<boolean> {
    return this.#run("delete", async (client) =>
      isOne(await call(client, scripts.delete, ...this.#keys(client, id), id)),
    );
  }

  /**
   * Walks the index newest first (one script per page on a standalone Redis): the cost is that of the records the
   * prefix holds, not of the server's keyspace. On a Cluster each slot has its own index, walked in slot order, so
   * records are newest first within a slot. A page may hold fewer than `limit` records and still have a cursor (each
   * script examines at most 1,000 entries); every record that exists throughout a walk is listed once.
   */
  async list(options: ListOptions = {}): Promise<ListPage> {
    const [shard, max, after]: Cursor = options.cursor ? decodeCursor(options.cursor) : [0, "+inf", ""];
    return this.#run(
      "list",
      async (client) => {
        const limit = options.limit ?? 100;
        // A Cluster's page walks many slots: it stops at half the operation's bound, leaving the rest to read records.
        const deadline = Date.now() + this.#scanTimeout / 2;
        // The shards left to walk, by their position among all shards (what a cursor names).
        const left = (await this.#shards(client)).filter(([position]) => position >= shard);
        const ids: string[] = [];
        let next: Cursor | undefined;
        walk: for (let start = 0; start < left.length; start += SHARDS_PER_BATCH) {
          const batch = left.slice(start, start + SHARDS_PER_BATCH);
          const pages = await Promise.all(
            batch.map(([position, tag]) => {
              const [from, skip] = position === shard ? [max, after] : ["+inf", ""];
              const args = [options.state ?? "", from, skip, options.since ?? "-inf", limit - ids.length];
              return call(client, indexScripts.listPage, ...indexKeys(this.#prefix, tag), ...args, SCRIPT_BUDGET);
            }),
          );
          for (const [i, page] of (pages as Buffer[][]).entries()) {
            const position = batch[i]![0];
            const [done, score, id, ...found] = page.map(String) as [string, string, string, ...string[]];
            const room = limit - ids.length;
            for (let j = 0; j < found.length && j / 2 < room; j += 2) ids.push(found[j]!);
            if (found.length / 2 > room) {
              next = [position, found[room * 2 - 1]!, found[room * 2 - 2]!];
              break walk;
            }
            if (done !== "1") {
              next = [position, score, id];
              break walk;
            }
            if (ids.length >= limit || Date.now() >= deadline) {
              if (start + i + 1 < left.length) next = [position + 1, "+inf", ""];
              break walk;
            }
          }
        }
        const records = await Promise.all(ids.map((id) => this.#read(client, id)));
        const found = records.filter(
          (record): record is IdempotencyRecord =>
            record !== undefined &&
            (options.state === undefined || record.state === options.state) &&
            (options.since === undefined || record.createdAt >= options.since),
        );
        found.sort((a, b) => b.createdAt - a.createdAt);
        return next ? { records: found, cursor: encodeCursor(next) } : { records: found };
      },
      this.#scanTimeout,
    );
  }

  /**
   * Counts from the index: ZCOUNT per state set by the server's clock, and the oldest and newest live entry of the
   * created set. A few commands per shard whatever the number of records (on a Cluster, per slot).
   */
  aggregate(options: AggregateOptions = {}): Promise<StoreAggregate> {
    const window = options.expiringWithin ?? 3_600_000;
    return this.#run(
      "aggregate",
      async (client) => {
        const states: Record<RecordState, number> = { "in-flight": 0, released: 0, completed: 0 };
        const result: StoreAggregate = { states, expiringSoon: 0, expired: 0 };
        const live: string[] = [];
        await this.#eachShard(client, async (tag) => {
          const counts = (
            (await call(client, indexScripts.aggregate, ...indexKeys(this.#prefix, tag), window)) as unknown[]
          ).map(Number);
          const [inFlight, released, completed, expiring, expired] = counts as [number, number, number, number, number];
          states["in-flight"] += inFlight;
          states.released += released;
          states.completed += completed;
          result.expiringSoon += expiring;
          result.expired += expired;
          if (inFlight + released + completed > 0) live.push(tag);
        });
        for (const tag of live) {
          const oldest = await this.#firstLive(client, tag, "oldest");
          const newest = await this.#firstLive(client, tag, "newest");
          if (oldest !== undefined && (result.oldest === undefined || oldest < result.oldest)) result.oldest = oldest;
          if (newest !== undefined && (result.newest === undefined || newest > result.newest)) result.newest = newest;
        }
        return result;
      },
      this.#scanTimeout,
    );
  }

  /**
   * Deletes up to `limit` expired records the index holds, in scripts of at most 1,000; each re-checks the record's
   * own expiry, so an id claimed again meanwhile stays. Records Redis's own expiry (a minute past `expiresAt`) already
   * reclaimed count as purged too: their index entries are what is left of them. Bounded by `timeout` or 30 s,
   * whichever is longer.
   */
  purgeExpired(options: { limit?: number } = {}): Promise<number> {
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    return this.#run(
      "purgeExpired",
      async (client) => {
        const withExpired: string[] = [];
        await this.#eachShard(client, async (tag) => {
          const counts = (await call(client, indexScripts.aggregate, ...indexKeys(this.#prefix, tag), 0)) as unknown[];
          if (Number(counts[4]) > 0) withExpired.push(tag);
        });
        const recordPrefix = `${client.options.keyPrefix ?? ""}${this.#prefix}`;
        let purged = 0;
        for (const tag of withExpired) {
          while (purged < limit) {
            const most = Math.min(limit - purged, SCRIPT_BUDGET);
            const reply = await call(client, indexScripts.purge, ...indexKeys(this.#prefix, tag), recordPrefix, most);
            const [deleted, examined] = (reply as unknown[]).map(Number) as [number, number];
            purged += deleted;
            if (examined === 0) break;
          }
        }
        return purged;
      },
      this.#scanTimeout,
    );
  }

  /**
   * Puts records an earlier oncely wrote (before the index existed) into the index: walks the keyspace once with SCAN
   * (every master of a Cluster) and indexes each record in a script. Run it once after upgrading (`oncely reindex`);
   * records written since the upgrade are indexed already, and running it again changes nothing. Each SCAN step is
   * one store call, bounded by `timeout` or 30 s; returns how many records it indexed.
   */
  async reindex(): Promise<number> {
    const masters = await this.#run("reindex", async (client) => mastersOf(client).length);
    let indexed = 0;
    for (let node = 0; node < masters; node++) {
      let cursor = "0";
      do {
        indexed += await this.#run(
          "reindex",
          async (client) => {
            const [next, keys] = await this.#scan(client, mastersOf(client)[node]!, cursor);
            cursor = next;
            const ids = keys.map((key) => this.#idOf(client, key));
            const replies = await Promise.all(
              ids.map((id) => call(client, indexScripts.reindex, ...this.#keys(client, id), id)),
            );
            return replies.filter(isOne).length;
          },
          this.#scanTimeout,
        );
      } while (cursor !== "0");
    }
    return indexed;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#blocking.close();
    const client = await this.#client?.catch(() => undefined);
    if (!client || this.#options.client) return;
    // QUIT lets replies already on their way arrive; disconnect() then stops any reconnect timer.
    if (client.status === "ready") {
      await storeCall(this.name, "close", this.#timeout, () => client.quit()).catch(() => {});
    }
    client.disconnect();
  }

  #key(id: string): string {
    return `${this.#prefix}{${id}}`;
  }

  /** The record's key, then its shard's index keys: what the scripts that change a record's state take. */
  #keys(client: Client, id: string): string[] {
    const key = this.#key(id);
    const fullKey = `${client.options.keyPrefix ?? ""}${key}`;
    return [key, ...indexKeys(this.#prefix, shardOf(id, client.isCluster, fullKey))];
  }

  /**
   * The shards that hold an index, with their position among all shards. A standalone Redis has one; a Cluster has
   * one per slot, and one EVAL per master finds which of its slots hold one, so walks skip the empty thousands.
   */
  async #shards(client: Client): Promise<[position: number, tag: string][]> {
    const shards = allShards(client.isCluster);
    if (!client.isCluster) return [[0, shards[0]!]];
    const cluster = client as Cluster;
    const owned = new Map<string, string[]>();
    for (const [slot, tag] of shards.entries()) {
      const master = cluster.slots[slot]?.[0];
      if (master === undefined) throw new Error(`no Cluster node serves slot ${slot}`);
      const tags = owned.get(master);
      if (tags) tags.push(tag);
      else owned.set(master, [tag]);
    }
    const base = `${client.options.keyPrefix ?? ""}${this.#prefix}`;
    const found = new Set<string>();
    await Promise.all(
      cluster.nodes("master").map(async (node) => {
        const tags = owned.get(`${node.options.host}:${node.options.port}`) ?? [];
        if (tags.length === 0) return;
        for (const tag of (await node.eval(NON_EMPTY_SHARDS, 0, base, ...tags)) as string[]) found.add(tag);
      }),
    );
    return shards.flatMap((tag, position) => (found.has(tag) ? [[position, tag] as [number, string]] : []));
  }

  /** Runs `body` for every shard that holds an index, a batch of shards at a time. */
  async #eachShard(client: Client, body: (tag: string) => Promise<void>): Promise<void> {
    const shards = await this.#shards(client);
    for (let i = 0; i < shards.length; i += SHARDS_PER_BATCH) {
      await Promise.all(shards.slice(i, i + SHARDS_PER_BATCH).map(([, tag]) => body(tag)));
    }
  }

  /** The creation time of a shard's oldest or newest live record, walking past expired entries. */
  async #firstLive(client: Client, tag: string, which: "oldest" | "newest"): Promise<number | undefined> {
    for (let offset = 0; offset >= 0; ) {
      const reply = await call(
        client,
        indexScripts.firstLive,
        ...indexKeys(this.#prefix, tag),
        which,
        offset,
        SCRIPT_BUDGET,
      );
      const [found, value] = (reply as unknown[]).map(Number) as [number, number];
      if (found === 1) return value;
      offset = value;
    }
    return undefined;
  }

  /** The id inside a scanned key, which carries the client's `keyPrefix` that commands add on their own. */
  #idOf(client: Client, key: string): string {
    return key.slice((client.options.keyPrefix ?? "").length + this.#prefix.length + 1, -1);
  }

  #scan(client: Client, master: Redis, cursor: string): Promise<[string, string[]]> {
    const pattern = `${client.options.keyPrefix ?? ""}${this.#prefix}`.replace(MATCH_SPECIAL, "\\$&");
    return master.scan(cursor, "MATCH", `${pattern}{*}`, "COUNT", SCAN_COUNT, "TYPE", "hash");
  }

  async #read(client: Client, id: string): Promise<IdempotencyRecord | undefined> {
    const reply = (await call(client, scripts.get, this.#key(id))) as (Buffer | null)[] | null;
    return reply ? toRecord(id, reply) : undefined;
  }

  /** Runs one operation under one deadline, connecting first if the store owns the connection. */
  async #run<T>(operation: string, body: (client: Client) => Promise<T>, timeout = this.#timeout): Promise<T> {
    if (this.#closed) throw new StoreError(this.name, operation, "failed: the store is closed");
    this.#client ??= this.#open().catch((error: unknown) => {
      this.#client = undefined;
      throw error;
    });
    const client = await this.#client;
    const run = storeCall(this.name, operation, timeout, async () => {
      if (!this.#options.client) await this.#ready(client as Redis);
      return body(client);
    });
    if (this.#options.client) return run;
    return run.catch((error: unknown) => {
      if (error instanceof StoreTimeoutError) this.#suspect(client as Redis);
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
    if (this.#probing || this.#closed || client.status !== "ready") return;
    this.#probing = true;
    storeCall(this.name, "ping", this.#timeout, () => client.ping())
      .catch((error: unknown) => {
        if (error instanceof StoreTimeoutError && !this.#closed && client.status === "ready") client.disconnect(true);
      })
      .finally(() => {
        this.#probing = false;
      });
  }

  /** Registers the scripts on the client, creating the store's own (no network yet) when given a `url`. */
  async #open(): Promise<Client> {
    const client = this.#options.client ?? (await this.#create(this.#options.url!));
    defineScripts(client, scripts);
    defineScripts(client, indexScripts);
    defineScripts(client, streamScripts);
    return client;
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

/** A client with `stringNumbers: true` replies integers as strings. */
function isOne(reply: unknown): boolean {
  return Number(reply) === 1;
}

/** The servers to scan: every master of a Cluster, or the one server. */
function mastersOf(client: Client): Redis[] {
  return client.isCluster ? (client as Cluster).nodes("master") : [client as Redis];
}

/** Where the next page starts: a shard, and the created_at score and id it continues after there. */
type Cursor = [shard: number, score: string, after: string];

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

function decodeCursor(cursor: string): Cursor {
  try {
    const [shard, score, after] = JSON.parse(Buffer.from(cursor, "base64url").toString()) as unknown[];
    if (Number.isInteger(shard) && (shard as number) >= 0 && typeof score === "string" && typeof after === "string") {
      return [shard as number, score, after];
    }
  } catch {}
  throw new InvalidCursorError(cursor);
}
