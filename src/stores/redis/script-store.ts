import { InvalidCursorError, StoreError } from "../../core/errors.js";
import type {
  AggregateOptions,
  ClaimOptions,
  ClaimResult,
  IdempotencyRecord,
  ListOptions,
  ListPage,
  RecordState,
  StepRecord,
  Store,
  StoreAggregate,
  StoredResponse,
} from "../../core/store.js";
import { fromBase64Url, toBase64, toBase64Url } from "../shared/base64.js";
import { checkStep, MAX_STORED_STEPS, tooManySteps } from "../shared/step-record.js";
import { numberOf, type ReplyValue, stepField, stepsOf, textOf, toHash, toRecord } from "./codec.js";
import { allShards, indexKey, indexKeys, indexScripts, SCRIPT_BUDGET, shardOf } from "./record-index.js";
import { untilNotRefused } from "./refusals.js";
import { type Script, scripts } from "./scripts.js";

/** An argument of a script: text, an integer, or bytes (a body, on a connection that carries bytes). */
export type ScriptArg = string | number | Uint8Array;

/** One script to run, with its keys and its other arguments. */
export type ScriptCall = [script: Script, keys: readonly string[], args: readonly ScriptArg[]];

/**
 * What the record operations need of a connection to Redis, whatever carries it: ioredis or iovalkey, node-redis (TCP,
 * RESP), or Upstash's REST API (HTTP, JSON). Each adapter runs a script by its hash and sends its source when the
 * server does not have it yet (NOSCRIPT), and hands replies back with strings as bytes (TCP) or text (HTTP).
 */
export interface ScriptConnection {
  /** A Redis Cluster: each slot then has its own index (record-index.ts). */
  readonly cluster: boolean;
  /** What the client puts in front of every key it sends, on its own (ioredis's `keyPrefix`); else "". */
  readonly keyPrefix: string;
  /** Carries bytes both ways. Upstash's REST API carries text only: bodies are then written as base64. */
  readonly binary: boolean;
  /** Runs one script; the reply as Redis gave it (arrays, integers, nil, strings as bytes or text). */
  run(script: Script, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown>;
  /** Runs several scripts together (one pipeline where the client has them); fails when one of them failed. */
  runAll(calls: readonly ScriptCall[]): Promise<void>;
  /**
   * On a Cluster: which of `tags` (one per slot) hold an index under `base` (the client's keyPrefix and the store's
   * prefix), asked of each master at once. Not called on a standalone Redis.
   */
  indexedShards(base: string, tags: readonly string[]): Promise<Set<string>>;
  /** How many servers SCAN walks: every master of a Cluster, or the one server. */
  servers(): number;
  /** One SCAN step on a server over the hashes whose key matches `match`: the next cursor, and the keys found. */
  scan(server: number, cursor: string, match: string, count: number): Promise<[next: string, keys: string[]]>;
}

/** `connection`, its scripts sent again while a Cluster refuses them before running, until `deadline`. */
function retryingRefusals(connection: ScriptConnection, deadline: number): ScriptConnection {
  const run: ScriptConnection["run"] = (script, keys, args) =>
    untilNotRefused(deadline, () => connection.run(script, keys, args));
  return {
    cluster: connection.cluster,
    keyPrefix: connection.keyPrefix,
    binary: connection.binary,
    run,
    runAll: async (calls) => {
      await Promise.all(calls.map((call) => run(...call)));
    },
    indexedShards: (base, tags) => connection.indexedShards(base, tags),
    servers: () => connection.servers(),
    scan: (server, cursor, match, count) => connection.scan(server, cursor, match, count),
  };
}

const PREFIX = /^[^{}]{1,100}$/;
const MATCH_SPECIAL = /[*?[\]\\]/g;
/** Keys SCAN examines per call (`reindex`). */
const SCAN_COUNT = 1_000;
/** Cluster shards (slots) asked at once by `list`, `aggregate` and `purgeExpired`. */
const SHARDS_PER_BATCH = 512;

/**
 * Checks a store's key prefix: no braces, which would change the Cluster hash tag (`<prefix>{<id>}`) a record's keys
 * share.
 */
export function checkPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== "string" || !PREFIX.test(prefix)) {
    throw new TypeError(`Expected \`prefix\` to be 1-100 characters without "{" or "}", got ${JSON.stringify(prefix)}`);
  }
}

/**
 * What `RedisStore` and `UpstashStore` share: the store operations on Redis's Lua scripts. One hash per record, each
 * operation one script (atomic, one round trip, on the Redis server's clock), and an index per prefix that `list`,
 * `aggregate` and `purgeExpired` walk. Each store brings its connection (ioredis, iovalkey or node-redis over TCP;
 * `@upstash/redis` over HTTP) and its deadline; what goes to Redis, and how its replies read, is the same.
 */
export abstract class ScriptStore implements Store {
  /** The store's name, as in its errors and events. */
  abstract readonly name: string;
  readonly #prefix: string;
  readonly #timeout: number;
  /** list, aggregate, purgeExpired and reindex walk the index: they get `timeout` or 30 s, whichever is longer. */
  readonly #scanTimeout: number;
  #connection: Promise<ScriptConnection> | undefined;
  /** The connection once `#connection` has settled with it. */
  #open: ScriptConnection | undefined;
  #closed = false;

  /**
   * @param prefix Prepended to every key (checked with `checkPrefix`).
   * @param timeout Each operation's bound, ms.
   */
  protected constructor(prefix: string, timeout: number) {
    checkPrefix(prefix);
    this.#prefix = prefix;
    this.#timeout = timeout;
    this.#scanTimeout = Math.max(timeout, 30_000);
  }

  /**
   * Opens the store's connection, on its first operation (again after a failed open).
   * @internal
   */
  protected abstract connect(): Promise<ScriptConnection>;

  /**
   * Runs one operation's `body` under its deadline (the store's `storeCall`, and whatever its connection needs).
   * @internal
   */
  protected abstract call<T>(operation: string, body: () => Promise<T>, timeout: number): Promise<T>;

  /**
   * Closes what the store opened itself, once, after its connection settled; a caller's client stays open.
   * @internal
   */
  protected abstract disconnect(): Promise<void>;

  /** Whether `close()` was called: every operation then fails. @internal */
  protected get closed(): boolean {
    return this.#closed;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#connection?.catch(() => undefined);
    await this.disconnect();
  }

  /**
   * One script: creates, takes over or answers with the record, by the server's clock. A claim that lands after the
   * operation gave up (a Cluster's client still following redirections after the store's timeout) is released at once:
   * nobody runs it, and the key would otherwise stay held until its lease lapsed.
   */
  claim(id: string, fingerprint: string, options: ClaimOptions): Promise<ClaimResult> {
    return this.#run("claim", async (connection, abandoned) => {
      const meta = JSON.stringify(options.meta);
      const runId = options.runId ?? crypto.randomUUID();
      const args = [fingerprint, options.lease, options.ttl, meta, runId, id];
      if (options.work) args.push(JSON.stringify(options.work));
      const reply = (await connection.run(scripts.claim, this.#keys(connection, id), args)) as ReplyValue[];
      const status = textOf(reply[0]);
      if (status === "claimed") {
        const [, token, recovered, run, ...steps] = reply;
        if (abandoned()) this.release(id, numberOf(token)).catch(() => undefined);
        return {
          status,
          token: numberOf(token),
          recovered: numberOf(recovered) === 1,
          runId: textOf(run),
          steps: steps.length === 0 ? [] : stepsOf(toHash(steps)),
        };
      }
      const record = toRecord(id, reply);
      return status === "completed" ? { status, record } : { status: "in-flight", record };
    });
  }

  renew(id: string, token: number, lease: number): Promise<boolean> {
    return this.#run("renew", async (connection) =>
      isOne(await connection.run(scripts.renew, [this.#key(id)], [token, lease])),
    );
  }

  complete(id: string, token: number, response: StoredResponse, ttl: number): Promise<boolean> {
    return this.#run("complete", async (connection) => {
      const { status, headers, body, kept } = response;
      const stored = connection.binary ? body : toBase64(body);
      const args: ScriptArg[] = [token, ttl, status, JSON.stringify(headers), stored, kept ? 1 : 0];
      // Upstash's REST API carries text: its bodies are base64, and say so.
      if (!connection.binary) args.push("base64");
      return isOne(await connection.run(scripts.complete, [this.#key(id)], args));
    });
  }

  release(id: string, token: number): Promise<boolean> {
    return this.#run("release", async (connection) =>
      isOne(await connection.run(scripts.release, [this.#key(id)], [token])),
    );
  }

  /** One script: fenced by the token, by the server's clock; a run keeps at most 1,000 steps. */
  async saveStep(id: string, token: number, step: StepRecord): Promise<boolean> {
    checkStep(step);
    return this.#run("saveStep", async (connection) => {
      const args = [token, step.name, stepField(step), MAX_STORED_STEPS];
      const reply = Number(await connection.run(scripts.saveStep, [this.#key(id)], args));
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
    await this.#run("countReplays", (connection) =>
      connection.runAll([...counts].map(([id, count]) => [scripts.countReplays, [this.#key(id)], [count]])),
    );
  }

  get(id: string): Promise<IdempotencyRecord | undefined> {
    return this.#run("get", (connection) => this.#read(connection, id));
  }

  delete(id: string): Promise<boolean> {
    return this.#run("delete", async (connection) =>
      isOne(await connection.run(scripts.delete, this.#keys(connection, id), [id])),
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
      async (connection) => {
        const limit = options.limit ?? 100;
        // A Cluster's page walks many slots: it stops at half the operation's bound, leaving the rest to read records.
        const deadline = Date.now() + this.#scanTimeout / 2;
        const base = `${connection.keyPrefix}${this.#prefix}`;
        // The shards left to walk, by their position among all shards (what a cursor names).
        const left = (await this.#shards(connection)).filter(([position]) => position >= shard);
        const ids: string[] = [];
        let next: Cursor | undefined;
        walk: for (let start = 0; start < left.length; start += SHARDS_PER_BATCH) {
          const batch = left.slice(start, start + SHARDS_PER_BATCH);
          const pages = await Promise.all(
            batch.map(([position, tag]) => {
              const [from, skip] = position === shard ? [max, after] : ["+inf", ""];
              const args = [base, options.state ?? "", from, skip, options.since ?? "-inf", limit - ids.length];
              return connection.run(indexScripts.listPage, [indexKey(this.#prefix, tag)], [...args, SCRIPT_BUDGET]);
            }),
          );
          for (const [i, page] of (pages as ReplyValue[][]).entries()) {
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
        const records = await Promise.all(ids.map((id) => this.#read(connection, id)));
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
   * Counts by walking the index, oldest first, and reading each record's state and expiry (scripts of up to 1,000
   * entries per shard; on a Cluster, per slot): a rare operator's command, whose cost grows with the records the
   * prefix holds, so that no claim, complete or release has to keep counts.
   */
  aggregate(options: AggregateOptions = {}): Promise<StoreAggregate> {
    const window = options.expiringWithin ?? 3_600_000;
    return this.#run(
      "aggregate",
      async (connection) => {
        const states: Record<RecordState, number> = { "in-flight": 0, released: 0, completed: 0 };
        const result: StoreAggregate = { states, expiringSoon: 0, expired: 0 };
        const base = `${connection.keyPrefix}${this.#prefix}`;
        await this.#eachShard(connection, async (tag) => {
          for (let cursor = ["-inf", ""]; ; ) {
            const args = [base, window, ...cursor, SCRIPT_BUDGET];
            const reply = await connection.run(indexScripts.aggregate, [indexKey(this.#prefix, tag)], args);
            const [done, score, id, ...counts] = (reply as ReplyValue[]).map(String);
            const [inFlight, released, completed, expiring, expired, oldest, newest] = counts.map(Number) as Counts;
            states["in-flight"] += inFlight;
            states.released += released;
            states.completed += completed;
            result.expiringSoon += expiring;
            result.expired += expired;
            if (oldest >= 0 && (result.oldest === undefined || oldest < result.oldest)) result.oldest = oldest;
            if (newest >= 0 && (result.newest === undefined || newest > result.newest)) result.newest = newest;
            if (done === "1") break;
            cursor = [score!, id!];
          }
        });
        return result;
      },
      this.#scanTimeout,
    );
  }

  /**
   * Deletes up to `limit` expired records the index holds, walking it oldest first in scripts of at most 1,000
   * entries; each re-checks the record's own expiry, so an id claimed again meanwhile stays. Records Redis's own expiry
   * (a minute past `expiresAt`) already reclaimed count as purged too: their index entries are what is left of them.
   * Bounded by `timeout` or 30 s, whichever is longer.
   */
  purgeExpired(options: { limit?: number } = {}): Promise<number> {
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    return this.#run(
      "purgeExpired",
      async (connection) => {
        const recordPrefix = `${connection.keyPrefix}${this.#prefix}`;
        let purged = 0;
        for (const [, tag] of await this.#shards(connection)) {
          for (let cursor = ["-inf", ""]; purged < limit; ) {
            const args = [recordPrefix, Math.min(limit - purged, SCRIPT_BUDGET), ...cursor, SCRIPT_BUDGET];
            const reply = await connection.run(indexScripts.purge, indexKeys(this.#prefix, tag), args);
            const [deleted, done, score, id] = (reply as ReplyValue[]).map(String);
            purged += Number(deleted);
            if (done === "1") break;
            cursor = [score!, id!];
          }
          if (purged >= limit) break;
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
    const servers = await this.#run("reindex", async (connection) => connection.servers(), this.#scanTimeout);
    let indexed = 0;
    for (let server = 0; server < servers; server++) {
      let cursor = "0";
      do {
        indexed += await this.#run(
          "reindex",
          async (connection) => {
            const pattern = `${connection.keyPrefix}${this.#prefix}`.replace(MATCH_SPECIAL, "\\$&");
            const [next, keys] = await connection.scan(server, cursor, `${pattern}{*}`, SCAN_COUNT);
            cursor = next;
            const ids = keys.map((key) => key.slice(connection.keyPrefix.length + this.#prefix.length + 1, -1));
            const replies = await Promise.all(
              ids.map((id) => connection.run(indexScripts.reindex, this.#keys(connection, id), [id])),
            );
            return replies.filter(isOne).length;
          },
          this.#scanTimeout,
        );
      } while (cursor !== "0");
    }
    return indexed;
  }

  /** Runs one operation on the store's connection, under its deadline (a subclass's own operations). @internal */
  protected operation<T>(
    operation: string,
    body: (connection: ScriptConnection) => Promise<T>,
    timeout = this.#timeout,
  ): Promise<T> {
    return this.#run(operation, body, timeout);
  }

  /** The key of the record `id`. @internal */
  protected recordKey(id: string): string {
    return this.#key(id);
  }

  /** Each operation's bound, ms. @internal */
  protected get timeout(): number {
    return this.#timeout;
  }

  /** `body` may ask `abandoned()`: whether the operation has already failed (timed out) while it went on. */
  #run<T>(
    operation: string,
    body: (connection: ScriptConnection, abandoned: () => boolean) => Promise<T>,
    timeout = this.#timeout,
  ): Promise<T> {
    // Once open, the operation starts in this call: awaiting the settled connection cost a step of the event loop
    // and two promises more per operation.
    const open = this.#open;
    if (open === undefined || this.#closed) return this.#runOpening(operation, body, timeout);
    return this.#runOn(open, operation, body, timeout);
  }

  async #runOpening<T>(
    operation: string,
    body: (connection: ScriptConnection, abandoned: () => boolean) => Promise<T>,
    timeout: number,
  ): Promise<T> {
    if (this.#closed) throw new StoreError(this.name, operation, "failed: the store is closed");
    this.#connection ??= this.connect().then(
      (connection) => {
        this.#open = connection;
        return connection;
      },
      (error: unknown) => {
        this.#connection = undefined;
        throw error;
      },
    );
    return this.#runOn(await this.#connection, operation, body, timeout);
  }

  #runOn<T>(
    connection: ScriptConnection,
    operation: string,
    body: (connection: ScriptConnection, abandoned: () => boolean) => Promise<T>,
    timeout: number,
  ): Promise<T> {
    // A script a Cluster refused (its slot moving between nodes) did not run: it is sent again until it runs or the
    // operation's time is up (see refusals.ts).
    const used = connection.cluster ? retryingRefusals(connection, performance.now() + timeout) : connection;
    let failed = false;
    return this.call(operation, () => body(used, () => failed), timeout).catch((error: unknown) => {
      failed = true;
      throw error;
    });
  }

  #key(id: string): string {
    return `${this.#prefix}{${id}}`;
  }

  /** The record's key, then its shard's index: what the scripts that create or delete a record take. */
  #keys(connection: ScriptConnection, id: string): string[] {
    const key = this.#key(id);
    return [key, indexKey(this.#prefix, shardOf(id, connection.cluster, `${connection.keyPrefix}${key}`))];
  }

  /**
   * The shards that hold an index, with their position among all shards. A standalone Redis has one; a Cluster has
   * one per slot, and the connection asks each master which of its slots hold one, so walks skip the empty thousands.
   */
  async #shards(connection: ScriptConnection): Promise<[position: number, tag: string][]> {
    const shards = allShards(connection.cluster);
    if (!connection.cluster) return [[0, shards[0]!]];
    const found = await connection.indexedShards(`${connection.keyPrefix}${this.#prefix}`, shards);
    return shards.flatMap((tag, position) => (found.has(tag) ? [[position, tag] as [number, string]] : []));
  }

  /** Runs `body` for every shard that holds an index, a batch of shards at a time. */
  async #eachShard(connection: ScriptConnection, body: (tag: string) => Promise<void>): Promise<void> {
    const shards = await this.#shards(connection);
    for (let i = 0; i < shards.length; i += SHARDS_PER_BATCH) {
      await Promise.all(shards.slice(i, i + SHARDS_PER_BATCH).map(([, tag]) => body(tag)));
    }
  }

  async #read(connection: ScriptConnection, id: string): Promise<IdempotencyRecord | undefined> {
    const reply = (await connection.run(scripts.get, [this.#key(id)], [])) as ReplyValue[] | null;
    return reply ? toRecord(id, reply) : undefined;
  }
}

/** A client with `stringNumbers: true` (and Upstash's REST API, as text) may reply integers as strings. */
function isOne(reply: unknown): boolean {
  return Number(reply) === 1;
}

/** An aggregate page's counts: in-flight, released, completed, expiring, expired, oldest and newest (-1 for none). */
type Counts = [number, number, number, number, number, number, number];

/** Where the next page starts: a shard, and the created_at score and id it continues after there. */
type Cursor = [shard: number, score: string, after: string];

function encodeCursor(cursor: Cursor): string {
  return toBase64Url(JSON.stringify(cursor));
}

function decodeCursor(cursor: string): Cursor {
  try {
    const [shard, score, after] = JSON.parse(fromBase64Url(cursor)) as unknown[];
    if (Number.isInteger(shard) && (shard as number) >= 0 && typeof score === "string" && typeof after === "string") {
      return [shard as number, score, after];
    }
  } catch {}
  throw new InvalidCursorError(cursor);
}
