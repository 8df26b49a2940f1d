/**
 * A store on Redis (standalone or Cluster) through ioredis.
 *
 * @module oncely/stores/redis
 */
import type { Cluster, Redis } from "ioredis";
import { type Duration, toMilliseconds } from "../../core/duration.js";
import { InvalidCursorError, StoreError, StoreTimeoutError } from "../../core/errors.js";
import {
  type ClaimOptions,
  type ClaimResult,
  type IdempotencyRecord,
  type ListOptions,
  type ListPage,
  RECORD_FORMAT_VERSION,
  type StepRecord,
  type Store,
  type StoredResponse,
} from "../../core/store.js";
import { storeCall } from "../../core/store-call.js";
import { rejectUnknownOptions } from "../../core/unknown-options.js";
import { loadDriver } from "../shared/optional-driver.js";
import { checkStep, MAX_STORED_STEPS, tooManySteps } from "../shared/step-record.js";
import { runScript as call, defineScripts, scripts, stepField, stepsOf, toHash, toRecord } from "./scripts.js";

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
/** Keys SCAN examines per call: pages stay small, and so does the cursor that carries a page's leftovers. */
const SCAN_COUNT = 100;

/**
 * Keeps records in Redis 6+ (standalone or Cluster) through ioredis: one hash per record, each operation
 * one Lua script, so a claim is atomic and one round trip, and leases and expiry follow the Redis server's clock.
 *
 * @example
 * const store = new RedisStore({ client: new Redis(process.env.REDIS_URL) });
 * const idem = createIdempotency({ store });
 */
export class RedisStore implements Store {
  readonly name = "redis";
  readonly #options: RedisStoreOptions;
  readonly #prefix: string;
  readonly #timeout: number;
  /** list and purgeExpired walk the keyspace: they get `timeout` or 30 s, whichever is longer. */
  readonly #scanTimeout: number;
  #client: Promise<Client> | undefined;
  #connecting: Promise<void> | undefined;
  #lastError: Error | undefined;
  /** A PING in flight after an operation timed out on the store's own connection (see `#suspect`). */
  #probing = false;
  #closed = false;

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
      const args = [fingerprint, options.lease, options.ttl, meta, RECORD_FORMAT_VERSION, runId, work];
      const reply = (await call(client, scripts.claim, this.#key(id), ...args)) as Buffer[];
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
      const args = [token, ttl, status, JSON.stringify(headers), bytes, kept ? 1 : 0];
      return isOne(await call(client, scripts.complete, this.#key(id), ...args));
    });
  }

  release(id: string, token: number): Promise<boolean> {
    return this.#run("release", async (client) => isOne(await call(client, scripts.release, this.#key(id), token)));
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

  get(id: string): Promise<IdempotencyRecord | undefined> {
    return this.#run("get", (client) => this.#read(client, id));
  }

  delete(id: string): Promise<boolean> {
    return this.#run("delete", async (client) => isOne(await client.unlink(this.#key(id))));
  }

  /**
   * Walks the keyspace with SCAN: for operators and the CLI, not for hot paths. Records are newest first within a
   * page only; a page may hold fewer than `limit` records (even none) and still have a cursor, because each page
   * scans for at most `timeout`. Every record that exists throughout a walk is listed at least once.
   */
  async list(options: ListOptions = {}): Promise<ListPage> {
    let [node, cursor, queue]: Cursor = options.cursor ? decodeCursor(options.cursor) : [0, "0", []];
    return this.#run(
      "list",
      async (client) => {
        const limit = options.limit ?? 100;
        const deadline = Date.now() + this.#timeout;
        const masters = mastersOf(client);
        const found: IdempotencyRecord[] = [];
        while (found.length < limit && (queue.length > 0 || node < masters.length) && Date.now() < deadline) {
          if (queue.length === 0) {
            const [next, keys] = await this.#scan(client, masters[node]!, cursor);
            queue = keys.map((key) => this.#idOf(client, key));
            [node, cursor] = next === "0" ? [node + 1, "0"] : [node, next];
            continue;
          }
          const ids = queue.splice(0, limit - found.length);
          const records = await Promise.all(ids.map((id) => this.#read(client, id)));
          for (const record of records) {
            if (!record || (options.state && record.state !== options.state)) continue;
            if (options.since === undefined || record.createdAt >= options.since) found.push(record);
          }
        }
        found.sort((a, b) => b.createdAt - a.createdAt);
        const more = queue.length > 0 || node < masters.length;
        return more ? { records: found, cursor: encodeCursor([node, cursor, queue]) } : { records: found };
      },
      this.#scanTimeout,
    );
  }

  /**
   * Deletes up to `limit` expired records found by SCAN; each delete re-checks expiry in a script, so an id claimed
   * again meanwhile stays. Redis's own expiry (a minute past `expiresAt`) usually gets there first. Bounded by
   * `timeout` or 30 s, whichever is longer.
   */
  purgeExpired(options: { limit?: number } = {}): Promise<number> {
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    return this.#run(
      "purgeExpired",
      async (client) => {
        let purged = 0;
        for (const master of mastersOf(client)) {
          let cursor = "0";
          do {
            const [next, keys] = await this.#scan(client, master, cursor);
            cursor = next;
            for (let i = 0; i < keys.length && purged < limit; ) {
              const batch = keys.slice(i, i + (limit - purged)).map((key) => this.#key(this.#idOf(client, key)));
              i += batch.length;
              const replies = await Promise.all(batch.map((key) => call(client, scripts.purge, key)));
              purged += replies.filter(isOne).length;
            }
          } while (cursor !== "0" && purged < limit);
          if (purged >= limit) break;
        }
        return purged;
      },
      this.#scanTimeout,
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
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
    defineScripts(client);
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

type Cursor = [node: number, scanCursor: string, pending: string[]];

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

function decodeCursor(cursor: string): Cursor {
  try {
    const [node, scan, pending] = JSON.parse(Buffer.from(cursor, "base64url").toString()) as unknown[];
    if (Number.isInteger(node) && typeof scan === "string" && Array.isArray(pending)) {
      return [node as number, scan, pending.map(String)];
    }
  } catch {}
  throw new InvalidCursorError(cursor);
}
