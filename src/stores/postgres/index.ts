/**
 * A store on PostgreSQL through pg, with the transactional mode.
 *
 * @module oncely/stores/postgres
 */
import type { Pool, PoolClient } from "pg";
import { type Duration, toMilliseconds } from "../../core/duration.js";
import { StoreError } from "../../core/errors.js";
import type {
  AggregateOptions,
  ClaimOptions,
  ClaimResult,
  IdempotencyRecord,
  ListOptions,
  ListPage,
  LocalStepStore,
  StepRecord,
  StoreAggregate,
  StoredResponse,
  StreamRead,
  StreamStore,
  TransactionalClaimOptions,
  TransactionalClaimResult,
  TransactionalStore,
} from "../../core/store.js";
import { storeCall } from "../../core/store-call.js";
import { rejectUnknownOptions } from "../../core/unknown-options.js";
import { loadDriver } from "../shared/optional-driver.js";
import { type PostgresOperations, postgresOperations, postgresSchema, type Query, quoteTable } from "./sql.js";
import { postgresStreamSchema, runName, StreamListener, streamRead, streamStatements } from "./stream.js";
import { claimInTransaction, runLocalStep } from "./transaction.js";

export { postgresSchema, postgresStreamSchema };

declare module "../../core/context.js" {
  interface TransactionClients {
    /** On `transactional` routes over a `PostgresStore`: pg's client of the transaction that holds the claim. */
    postgres: PoolClient;
  }
}

/** Options of `PostgresStore`: a pg `Pool` or a connection string, the table, and timeouts. */
export interface PostgresStoreOptions {
  /** A pg `Pool` you configured (size, TLS, type parsers). The store never ends it. Give `pool` or `connectionString`. */
  pool?: Pool;
  /**
   * A connection URI such as `postgres://user:pass@host:5432/db`: the store opens its own pool (pg's defaults, 10
   * connections, connect timeout = `timeout`) and ends it on `close()`.
   */
  connectionString?: string;
  /**
   * The table records live in: letters, digits and underscores, optionally schema-qualified (`"oncely.records"`).
   * Quoted in SQL, so it is case-sensitive.
   * @default "oncely_records"
   */
  table?: string;
  /**
   * Bounds each operation, waiting for a pooled connection included; on expiry it fails with a `StoreTimeoutError`.
   * Also the connect timeout of a pool the store opens, so an unreachable server fails fast.
   * @default 1000
   */
  timeout?: Duration;
}

/** Every option name, checked against `PostgresStoreOptions` by the compiler, for refusing a misspelled one. */
const OPTION_NAMES: Record<keyof PostgresStoreOptions, true> = {
  pool: true,
  connectionString: true,
  table: true,
  timeout: true,
};

/**
 * Keeps records in a PostgreSQL table through `pg`. Each operation is one statement, so one round trip: a claim is
 * a single `INSERT ... ON CONFLICT (id) DO UPDATE ... RETURNING` that either claims the key or returns the record
 * that holds it. Leases and expiry are judged by the server's clock. Call `migrate()` once at boot, or create the
 * table yourself from `postgresSchema()`.
 *
 * @example
 * const store = new PostgresStore({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) });
 * await store.migrate();
 * const idem = createIdempotency({ store });
 */
export class PostgresStore implements TransactionalStore, LocalStepStore, StreamStore {
  readonly name = "postgres";
  readonly #table: string;
  readonly #timeout: number;
  readonly #operations: PostgresOperations;
  readonly #userPool: Pool | undefined;
  readonly #connectionString: string | undefined;
  #ownPool: Promise<Pool> | undefined;
  #closed = false;
  readonly #streams: ReturnType<typeof streamStatements>;
  /** The connection followers of a stream wait on (see stream.ts). */
  readonly #listener = new StreamListener();

  constructor(options: PostgresStoreOptions) {
    rejectUnknownOptions("PostgresStore", options ?? {}, Object.keys(OPTION_NAMES));
    const { pool, connectionString, table = "oncely_records" } = options ?? {};
    if ((pool === undefined) === (connectionString === undefined)) {
      throw new TypeError("Expected exactly one of `pool` (a pg Pool) and `connectionString`");
    }
    if (pool !== undefined && typeof (pool as Partial<Pool>).query !== "function") {
      throw new TypeError("Expected `pool` to be a pg Pool");
    }
    if (connectionString !== undefined && (typeof connectionString !== "string" || connectionString === "")) {
      throw new TypeError(
        `Expected \`connectionString\` to be a URI such as "postgres://user@host:5432/db", got ${JSON.stringify(connectionString)}`,
      );
    }
    quoteTable(table);
    this.#table = table;
    this.#operations = postgresOperations(table);
    this.#streams = streamStatements(table);
    this.#userPool = pool;
    this.#connectionString = connectionString;
    this.#timeout = toMilliseconds(options.timeout ?? 1000, "timeout");
  }

  /**
   * Creates the table and its indexes if missing, and adds the columns of steps and replay counts to a table an
   * earlier oncely created. Safe when several processes run it at once: an advisory lock
   * serialises them, since concurrent `CREATE TABLE IF NOT EXISTS` can still collide in PostgreSQL's catalog.
   */
  async migrate(): Promise<void> {
    // Several statements in one simple query run as one implicit transaction, which holds the xact lock to the end.
    const lock = `SELECT pg_advisory_xact_lock(hashtext('oncely:migrate:' || '${this.#table}'));`;
    const pool = await this.#pool();
    await storeCall(this.name, "migrate", Math.max(this.#timeout, 30_000), () =>
      pool.query(`${lock}\n${postgresSchema(this.#table)}\n${postgresStreamSchema(this.#table)}`),
    );
  }

  claim(id: string, fingerprint: string, options: ClaimOptions): Promise<ClaimResult> {
    return this.#run("claim", (query) => this.#operations.claim(query, id, fingerprint, options));
  }

  /**
   * The claim of `transactional: true` routes: opens a transaction on a pooled connection, claims inside it, and
   * hands the connection to the handler as `context.transaction`. The engine commits the stored response with the
   * handler's writes, or rolls both back.
   */
  async claimInTransaction(
    id: string,
    fingerprint: string,
    options: TransactionalClaimOptions,
  ): Promise<TransactionalClaimResult> {
    if (this.#closed) throw new StoreError(this.name, "claim", "failed: the store is closed");
    const pool = await this.#pool();
    return claimInTransaction(pool, this.#operations, this.#table, id, fingerprint, options);
  }

  renew(id: string, token: number, lease: number): Promise<boolean> {
    return this.#run("renew", (query) => this.#operations.renew(query, id, token, lease));
  }

  complete(id: string, token: number, response: StoredResponse, ttl: number): Promise<boolean> {
    return this.#run("complete", (query) => this.#operations.complete(query, id, token, response, ttl));
  }

  release(id: string, token: number): Promise<boolean> {
    return this.#run("release", (query) => this.#operations.release(query, id, token));
  }

  /** Records a step of the run `token` holds: one fenced `UPDATE` of the record's `steps` (see `StepRecord`). */
  saveStep(id: string, token: number, step: StepRecord): Promise<boolean> {
    return this.#run("saveStep", (query) => this.#operations.saveStep(query, id, token, step));
  }

  /**
   * `step.local(name, (tx) => ...)`: runs `work` with a pg `PoolClient` inside `BEGIN`, records the step as done in
   * the same transaction (fenced by `token`), and commits, so the step's writes and its checkpoint land together or
   * not at all. Resolves false, rolled back, when another holder took the run over meanwhile.
   */
  async runLocalStep(
    id: string,
    token: number,
    step: Pick<StepRecord, "name" | "seq">,
    work: (transaction: PoolClient) => Promise<string | undefined>,
  ): Promise<boolean> {
    if (this.#closed) throw new StoreError(this.name, "saveStep", "failed: the store is closed");
    const pool = await this.#pool();
    return runLocalStep(pool, this.#operations, this.#timeout, id, token, step, work);
  }

  /** One statement: fenced by the token, by the server's clock; it notifies the run's followers. */
  appendStream(id: string, token: number, entries: Uint8Array[], ttl: number): Promise<boolean> {
    const bytes = entries.map((entry) => Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength));
    return this.#run("appendStream", async (query) => {
      const values = [id, token, bytes, ttl, runName(this.#table, id, token)];
      const { rows } = await query({ ...this.#streams.append, values });
      return (rows[0] as unknown as { held: boolean }).held;
    });
  }

  /**
   * One statement reads the run's state and entries; with nothing new, the follower waits for the append's
   * notification (`LISTEN`, on the store's listening connection) or `wait`, then reads again.
   */
  async readStream(id: string, token: number, from: number, wait: number): Promise<StreamRead> {
    const read = () =>
      this.#run("readStream", async (query) => {
        const { rows } = await query({ ...this.#streams.read, values: [id, token, from] });
        return streamRead(rows[0] as unknown as { state: string; entries: Buffer[] });
      });
    if (wait <= 0) return read();
    // Listening before the read: an append between the read and the wait still wakes it.
    const pool = await this.#pool();
    const waiting = await storeCall(this.name, "readStream", this.#timeout, () =>
      this.#listener.listen(pool, runName(this.#table, id, token), wait),
    );
    const first = await read().catch((error: unknown) => {
      waiting.cancel();
      throw error;
    });
    if (first.entries.length > 0 || first.state !== "held") {
      waiting.cancel();
      return first;
    }
    await waiting.done;
    return read();
  }

  /** One `UPDATE ... FROM unnest($1, $2)` per batch, on live completed records only. */
  async countReplays(counts: ReadonlyMap<string, number>): Promise<void> {
    if (counts.size === 0) return;
    await this.#run("countReplays", (query) => this.#operations.countReplays(query, counts));
  }

  get(id: string): Promise<IdempotencyRecord | undefined> {
    return this.#run("get", (query) => this.#operations.get(query, id));
  }

  delete(id: string): Promise<boolean> {
    return this.#run("delete", (query) => this.#operations.delete(query, id));
  }

  list(options: ListOptions = {}): Promise<ListPage> {
    return this.#run("list", (query) => this.#operations.list(query, options));
  }

  /** Deletes expired records, and the expired entries of stream logs (not counted: they are not records). */
  purgeExpired(options: { limit?: number } = {}): Promise<number> {
    return this.#run("purgeExpired", async (query) => {
      const { rows } = await query({ ...this.#streams.present, values: [quoteTable(`${this.#table}_stream`)] });
      if ((rows[0] as unknown as { present: boolean }).present) await query({ ...this.#streams.purge, values: [] });
      return this.#operations.purgeExpired(query, options);
    });
  }

  /** One SELECT of conditional COUNTs and MIN/MAX over the table, by the server's clock (no body is read). */
  aggregate(options: AggregateOptions = {}): Promise<StoreAggregate> {
    return this.#run("aggregate", (query) => this.#operations.aggregate(query, options));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#listener.close();
    const own = await this.#ownPool?.catch(() => undefined);
    await own?.end();
  }

  async #run<T>(operation: string, body: (query: Query) => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreError(this.name, operation, "failed: the store is closed");
    const pool = await this.#pool();
    // `query_timeout` (pg's client-side read timeout, per statement so a handler's own queries on a transaction keep
    // theirs): a statement sent on a connection that died silently (a firewall or NAT forgot it, a failover moved the
    // server) fails, and pg's pool then discards that connection instead of keeping it checked out until TCP gives
    // up, many minutes later (one connection lost per incident, and `close()` waiting for it). Three times `timeout`,
    // at least 3 s: the caller was answered at `timeout`, and a statement that is only slow may still land (a late
    // `complete` stores its outcome).
    const query_timeout = Math.max(3 * this.#timeout, 3_000);
    return storeCall(this.name, operation, this.#timeout, () =>
      body((statement) => pool.query({ ...statement, query_timeout } as typeof statement)),
    );
  }

  #pool(): Promise<Pool> {
    if (this.#userPool) return Promise.resolve(this.#userPool);
    // A failed import is not cached: the next operation tries again.
    this.#ownPool ??= this.#open().catch((error: unknown) => {
      this.#ownPool = undefined;
      throw error;
    });
    return this.#ownPool;
  }

  async #open(): Promise<Pool> {
    const module = (await loadDriver("postgres", "PostgresStore", "pg", () => import("pg"))) as typeof import("pg") & {
      default?: typeof import("pg");
    };
    const pg = module.default ?? module;
    const pool = new pg.Pool({
      connectionString: this.#connectionString,
      connectionTimeoutMillis: this.#timeout,
      // Idle connections never keep the process alive.
      allowExitOnIdle: true,
    });
    // An idle connection that breaks (server restart) is dropped and replaced on the next query; without a listener
    // the pool's "error" event would crash the process.
    pool.on("error", () => {});
    return pool;
  }
}
