import type {
  ClaimOptions,
  ClaimResult,
  IdempotencyRecord,
  ListOptions,
  StepRecord,
  StoredResponse,
} from "../../core/store.js";
import { stepsFromJson } from "../shared/step-record.js";
import { claimParams, MAX_STEPS, type Row, sqliteSchema, statementsSql, stepJson, toRecord } from "../sqlite/sql.js";

// The Durable Object side: each object keeps its shard's records in its own SQLite database (a SQLite-backed Durable
// Object) and runs the SQLite store's SQL on it. `sql.exec` is synchronous and an object runs one event at a time,
// so every call below completes inside one turn: nothing interleaves with a claim.

/** What a SQLite-backed Durable Object's `ctx.storage` offers that the object uses. */
export interface DurableObjectStorageLike {
  /** The object's SQLite database. */
  sql: {
    /** Runs one statement with positional bindings; its rows come back by `toArray()`. */
    exec(
      query: string,
      ...bindings: unknown[]
    ): {
      /** Every row the statement answered. */
      toArray(): Record<string, unknown>[];
    };
  };
  /** Runs `body` as one transaction: rolled back if it throws. */
  transactionSync<T>(body: () => T): T;
}

/** The `ctx` a Durable Object class is constructed with, as far as the object uses it. */
export interface DurableObjectStateLike {
  /** The object's storage (SQLite-backed). */
  storage: DurableObjectStorageLike;
}

/** Cloudflare's `DurableObject` base class (`import { DurableObject } from "cloudflare:workers"`). */
// biome-ignore lint/suspicious/noExplicitAny: a mixin's base must take any constructor arguments.
export type DurableObjectBase = abstract new (...args: any[]) => object;

/** The class `IdempotencyObject` makes: `Base`, with the calls of `IdempotencyObjectApi`. */
export type IdempotencyObjectClass<B extends DurableObjectBase> = abstract new (
  ...args: ConstructorParameters<B>
) => InstanceType<B> & IdempotencyObjectApi;

/** The calls the Worker's `DurableObjectStore` makes on an object, over Durable Object RPC. */
export interface IdempotencyObjectApi {
  /** `Store.claim`, on the object's clock. */
  claim(id: string, fingerprint: string, options: ClaimOptions): ClaimResult;
  /** `Store.renew`. */
  renew(id: string, token: number, lease: number): boolean;
  /** `Store.complete`. */
  complete(id: string, token: number, response: StoredResponse, ttl: number): boolean;
  /** `Store.release`. */
  release(id: string, token: number): boolean;
  /** `StepStore.saveStep`. */
  saveStep(id: string, token: number, step: StepRecord): boolean;
  /** `Store.countReplays`, for the ids this object holds. */
  countReplays(counts: [id: string, count: number][]): void;
  /** `Store.get`. */
  get(id: string): IdempotencyRecord | undefined;
  /** `Store.delete`. */
  delete(id: string): boolean;
  /** One page of this object's records, newest first. */
  list(options: ShardListOptions): IdempotencyRecord[];
  /** Deletes up to `limit` expired records (-1: all); answers how many. */
  purgeExpired(limit: number): number;
}

/** A page request to one shard: the cursor already decoded by the Worker's store, which refuses a bad one. */
export interface ShardListOptions {
  /** Only records in this state. */
  state?: ListOptions["state"];
  /** Only records created at or after this epoch ms. */
  since?: number;
  /** The (created_at, id) of the last record of the previous page. */
  after?: [createdAt: number, id: string];
  /** The most records to answer. */
  limit: number;
}

const TABLE = "oncely_records";

type Sql = ReturnType<typeof statementsSql>;

/**
 * Makes the Durable Object class that holds oncely's records, from Cloudflare's `DurableObject` (oncely imports
 * nothing from `cloudflare:workers` itself, so it type-checks and bundles anywhere). Bind the class as a
 * SQLite-backed Durable Object (`new_sqlite_classes` in wrangler.toml) and hand its namespace to
 * `DurableObjectStore`.
 *
 * @param Base - `DurableObject` from `"cloudflare:workers"`.
 * @returns A class to export from the Worker under the name wrangler.toml binds.
 * @example
 * import { DurableObject } from "cloudflare:workers";
 * import { IdempotencyObject } from "oncely/stores/durable-object";
 * export class Idempotency extends IdempotencyObject(DurableObject) {}
 */
export function IdempotencyObject<B extends DurableObjectBase>(Base: B): IdempotencyObjectClass<B> {
  abstract class Idempotency extends Base implements IdempotencyObjectApi {
    readonly #storage: DurableObjectStorageLike;
    readonly #sql = statementsSql(TABLE);

    // biome-ignore lint/suspicious/noExplicitAny: the mixin passes the runtime's arguments through.
    constructor(...args: any[]) {
      super(...args);
      this.#storage = (args[0] as DurableObjectStateLike).storage;
      // Statement by statement: the schema is a few statements, and exec takes its bindings for one.
      for (const statement of sqliteSchema(TABLE).split(";\n")) this.#storage.sql.exec(statement);
    }

    claim(id: string, fingerprint: string, options: ClaimOptions): ClaimResult {
      const now = Date.now();
      const params = claimParams(id, fingerprint, options, now);
      return this.#storage.transactionSync((): ClaimResult => {
        const [fresh] = this.#rows("claim", params.upsert);
        if (fresh) return claimed(fresh, false);
        const record = toRecord(row(this.#storage.sql.exec(this.#sql.select, id).toArray()[0]!));
        if (record.state === "completed") return { status: "completed", record };
        if (record.leaseUntil <= now && record.fingerprint === fingerprint) {
          return claimed(this.#rows("takeOverLapsed", params.takeOver)[0]!, true);
        }
        return { status: "in-flight", record };
      });
    }

    renew(id: string, token: number, lease: number): boolean {
      const now = Date.now();
      return this.#changed("renew", { id, token, now, leaseUntil: now + lease }) === 1;
    }

    complete(id: string, token: number, response: StoredResponse, ttl: number): boolean {
      const now = Date.now();
      const { status, headers, body, kept } = response;
      const bytes = body.slice().buffer;
      const params = { id, token, now, expiresAt: now + ttl, status, headers: JSON.stringify(headers), body: bytes };
      return this.#changed("complete", { ...params, kept: kept ? 1 : 0 }) === 1;
    }

    release(id: string, token: number): boolean {
      return this.#changed("release", { id, token, now: Date.now() }) === 1;
    }

    saveStep(id: string, token: number, step: StepRecord): boolean {
      const params = { id, token, now: Date.now(), name: step.name, step: stepJson(step) };
      const [result] = this.#rows("saveStep", params);
      if (!result) return false;
      if (!result.saved) throw new Error(`the run holds ${MAX_STEPS} steps already`);
      return true;
    }

    countReplays(counts: [id: string, count: number][]): void {
      const now = Date.now();
      this.#storage.transactionSync(() => {
        for (const [id, count] of counts) this.#changed("countReplays", { id, count, now });
      });
    }

    get(id: string): IdempotencyRecord | undefined {
      const [found] = this.#storage.sql.exec(this.#sql.get, id, Date.now()).toArray();
      return found && toRecord(row(found));
    }

    delete(id: string): boolean {
      this.#storage.sql.exec(this.#sql.delete, id);
      return this.#changes() === 1;
    }

    list(options: ShardListOptions): IdempotencyRecord[] {
      const [afterCreated, afterId] = options.after ?? [null, null];
      const params = { now: Date.now(), state: options.state ?? null, since: options.since ?? null };
      return this.#rows("list", { ...params, afterCreated, afterId, limit: options.limit })
        .map(row)
        .map(toRecord);
    }

    purgeExpired(limit: number): number {
      return this.#changed("purge", { now: Date.now(), limit });
    }

    /** Runs a named statement; its `@name` parameters become positional bindings, as `sql.exec` takes them. */
    #rows(name: keyof Sql, params: Record<string, unknown>): Record<string, unknown>[] {
      const bindings: unknown[] = [];
      const query = this.#sql[name].replace(/@(\w+)/g, (_, key: string) => {
        bindings.push(params[key] ?? null);
        return "?";
      });
      return this.#storage.sql.exec(query, ...bindings).toArray();
    }

    /** Runs a named write; answers how many rows it changed. */
    #changed(name: keyof Sql, params: Record<string, unknown>): number {
      this.#rows(name, params);
      return this.#changes();
    }

    #changes(): number {
      return Number(this.#storage.sql.exec("SELECT changes() AS changes").toArray()[0]!.changes);
    }
  }
  return Idempotency as unknown as IdempotencyObjectClass<B>;
}

/** A row as the SQLite store's mapping reads it: a Durable Object answers a BLOB as an ArrayBuffer. */
function row(values: Record<string, unknown>): Row {
  const body = values.body as ArrayBuffer | null;
  return { ...(values as unknown as Row), body: body === null ? null : new Uint8Array(body) };
}

function claimed(values: Record<string, unknown>, recovered: boolean): ClaimResult {
  return {
    status: "claimed",
    token: Number(values.token),
    recovered,
    runId: (values.run_id as string | null) ?? undefined,
    steps: stepsFromJson(values.steps as string | null),
  };
}
