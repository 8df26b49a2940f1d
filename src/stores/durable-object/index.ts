/**
 * A store on Cloudflare Durable Objects: records in SQLite-backed objects, each claim inside one object's
 * single-threaded turn.
 *
 * @module oncely/stores/durable-object
 */
import { StoreError } from "../../core/errors.js";
import type {
  ClaimOptions,
  ClaimResult,
  IdempotencyRecord,
  ListOptions,
  ListPage,
  StepRecord,
  StepStore,
  StoredResponse,
} from "../../core/store.js";
import { rejectUnknownOptions } from "../../core/unknown-options.js";
import { decodeCursor, encodeCursor } from "../shared/keyset-cursor.js";
import type { IdempotencyObjectApi } from "./object.js";

export {
  type DurableObjectBase,
  type DurableObjectStateLike,
  type DurableObjectStorageLike,
  IdempotencyObject,
  type IdempotencyObjectApi,
  type IdempotencyObjectClass,
  type ShardListOptions,
} from "./object.js";

/** An RPC stub of the idempotency object: each call is one request to it, answered asynchronously. */
export type IdempotencyObjectStub = {
  [K in keyof IdempotencyObjectApi]: (
    ...args: Parameters<IdempotencyObjectApi[K]>
  ) => Promise<ReturnType<IdempotencyObjectApi[K]>>;
};

/** The part of a `DurableObjectNamespace` binding the store uses (`env.IDEMPOTENCY`). */
export interface DurableObjectNamespaceLike {
  /** The id of the object with this name. */
  idFromName(name: string): unknown;
  /** The RPC stub of the object with this id. */
  get(id: never): unknown;
}

/** Options of `DurableObjectStore`. */
export interface DurableObjectStoreOptions {
  /** The namespace binding of the class made with `IdempotencyObject` (`env.IDEMPOTENCY`). */
  namespace: DurableObjectNamespaceLike;
  /**
   * How many objects the records are spread over, by a hash of the record id. Each object serves its records one
   * request at a time, so more shards carry more claims per second; `list` and `purgeExpired` ask every shard.
   * Changing it later strands the records of the old layout until they expire.
   * @default 16
   */
  shards?: number;
  /**
   * Names the objects (`<name>:<shard>`), so two stores on one namespace stay apart.
   * @default "oncely"
   */
  name?: string;
}

const OPTION_NAMES: readonly (keyof DurableObjectStoreOptions)[] = ["namespace", "shards", "name"];

/**
 * Keeps records in Cloudflare Durable Objects, for Workers: each record lives in one of `shards` SQLite-backed
 * objects, which runs the SQLite store's claim inside its single-threaded turn. One request to an object per
 * operation; the clock is the object's.
 *
 * @example
 * // worker.ts, with IDEMPOTENCY bound to the class below in wrangler.toml (new_sqlite_classes)
 * import { DurableObject } from "cloudflare:workers";
 * import { DurableObjectStore, IdempotencyObject } from "oncely/stores/durable-object";
 * export class Idempotency extends IdempotencyObject(DurableObject) {}
 * // in fetch(request, env): new DurableObjectStore({ namespace: env.IDEMPOTENCY })
 */
export class DurableObjectStore implements StepStore {
  readonly name = "durable-object";
  readonly #namespace: DurableObjectNamespaceLike;
  readonly #shards: number;
  readonly #prefix: string;

  constructor(options: DurableObjectStoreOptions) {
    const { namespace, shards = 16, name = "oncely" } = options ?? {};
    rejectUnknownOptions("DurableObjectStore", options ?? {}, OPTION_NAMES);
    if (typeof namespace?.idFromName !== "function" || typeof namespace.get !== "function") {
      throw new TypeError("Expected `namespace` to be a Durable Object namespace binding (env.IDEMPOTENCY)");
    }
    if (!Number.isInteger(shards) || shards < 1 || shards > 1024) {
      throw new TypeError(`Expected \`shards\` to be an integer from 1 to 1024, got ${JSON.stringify(shards)}`);
    }
    if (typeof name !== "string" || name === "") {
      throw new TypeError(`Expected \`name\` to be a non-empty string, got ${JSON.stringify(name)}`);
    }
    this.#namespace = namespace;
    this.#shards = shards;
    this.#prefix = name;
  }

  claim(id: string, fingerprint: string, options: ClaimOptions): Promise<ClaimResult> {
    return this.#call("claim", this.#shardOf(id), (object) => object.claim(id, fingerprint, options));
  }

  renew(id: string, token: number, lease: number): Promise<boolean> {
    return this.#call("renew", this.#shardOf(id), (object) => object.renew(id, token, lease));
  }

  complete(id: string, token: number, response: StoredResponse, ttl: number): Promise<boolean> {
    return this.#call("complete", this.#shardOf(id), (object) => object.complete(id, token, response, ttl));
  }

  release(id: string, token: number): Promise<boolean> {
    return this.#call("release", this.#shardOf(id), (object) => object.release(id, token));
  }

  saveStep(id: string, token: number, step: StepRecord): Promise<boolean> {
    return this.#call("saveStep", this.#shardOf(id), (object) => object.saveStep(id, token, step));
  }

  /** One request per shard that holds any of the ids. */
  async countReplays(counts: ReadonlyMap<string, number>): Promise<void> {
    const byShard = new Map<number, [string, number][]>();
    for (const [id, count] of counts) {
      const shard = this.#shardOf(id);
      byShard.set(shard, [...(byShard.get(shard) ?? []), [id, count]]);
    }
    await Promise.all(
      [...byShard].map(([shard, entries]) =>
        this.#call("countReplays", shard, (object) => object.countReplays(entries)),
      ),
    );
  }

  get(id: string): Promise<IdempotencyRecord | undefined> {
    return this.#call("get", this.#shardOf(id), (object) => object.get(id));
  }

  delete(id: string): Promise<boolean> {
    return this.#call("delete", this.#shardOf(id), (object) => object.delete(id));
  }

  /** Asks every shard for its next page after the cursor, newest first, and keeps the newest `limit` of them all. */
  async list(options: ListOptions = {}): Promise<ListPage> {
    const limit = options.limit ?? 100;
    // Decoded here, so a cursor this store did not make fails with InvalidCursorError before any request.
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const page = { state: options.state, since: options.since, after, limit: limit + 1 };
    const pages = await Promise.all(
      this.#everyShard().map((shard) => this.#call("list", shard, (object) => object.list(page))),
    );
    const all = pages.flat().sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const records = all.slice(0, limit);
    const last = records.at(-1);
    return all.length > limit && last ? { records, cursor: encodeCursor(last) } : { records };
  }

  /** Purges shard by shard until `limit` records are gone or every shard is clean. */
  async purgeExpired(options: { limit?: number } = {}): Promise<number> {
    let purged = 0;
    for (const shard of this.#everyShard()) {
      const left = options.limit === undefined ? -1 : options.limit - purged;
      if (left === 0) break;
      purged += await this.#call("purgeExpired", shard, (object) => object.purgeExpired(left));
    }
    return purged;
  }

  /** Nothing to close: the objects outlive the Worker's request. */
  async close(): Promise<void> {}

  #everyShard(): number[] {
    return Array.from({ length: this.#shards }, (_, shard) => shard);
  }

  /** FNV-1a of the id's UTF-16 code units: stable across Workers and deploys. */
  #shardOf(id: string): number {
    let hash = 0x811c9dc5;
    for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
    return (hash >>> 0) % this.#shards;
  }

  async #call<T>(operation: string, shard: number, body: (object: IdempotencyObjectStub) => Promise<T>): Promise<T> {
    const object = this.#namespace.get(this.#namespace.idFromName(`${this.#prefix}:${shard}`) as never);
    try {
      return await body(object as IdempotencyObjectStub);
    } catch (error) {
      throw new StoreError(this.name, operation, `failed: ${(error as Error).message}`, { cause: error });
    }
  }
}
