/**
 * A store on MySQL 8 and MariaDB through mysql2.
 *
 * @module oncely/stores/mysql
 */
import type { Pool, PoolConnection } from "mysql2/promise";
import { type Duration, toMilliseconds } from "../../core/duration.js";
import { StoreError } from "../../core/errors.js";
import type {
  AggregateOptions,
  ClaimOptions,
  ClaimResult,
  IdempotencyRecord,
  ListOptions,
  ListPage,
  StepRecord,
  StoreAggregate,
  StoredResponse,
  StreamRead,
  StreamStore,
} from "../../core/store.js";
import { storeCall } from "../../core/store-call.js";
import { rejectUnknownOptions } from "../../core/unknown-options.js";
import { loadDriver } from "../shared/optional-driver.js";
import { pollStream } from "../shared/poll-stream.js";
import { checkStep } from "../shared/step-record.js";
import { type Dialect, type Execute, type MySqlOperations, mysqlOperations, mysqlSchema, quoteTable } from "./sql.js";
import { mysqlStreamSchema, mysqlStreams } from "./stream.js";

export { mysqlSchema, mysqlStreamSchema };

/** Options of `MySqlStore`: a mysql2 pool or a URI, the table, the dialect and timeouts. */
export interface MySqlStoreOptions {
  /**
   * A mysql2 pool you configured (`mysql2/promise`'s `createPool`, or a callback pool, whose `.promise()` is used).
   * The store never ends it. Give `pool` or `uri`.
   */
  pool?:
    | Pool
    | {
        /** mysql2's promise API over a callback pool. */
        promise(): Pool;
      };
  /**
   * A connection URI such as `mysql://user:pass@host:3306/db`: the store opens its own pool (10 connections, connect
   * timeout = `timeout`) and ends it on `close()`.
   */
  uri?: string;
  /**
   * The table records live in: letters, digits and underscores, optionally `"database.table"`.
   * @default "oncely_records"
   */
  table?: string;
  /**
   * The server's SQL dialect. On MariaDB a claim is one statement (`INSERT ... ON DUPLICATE KEY UPDATE ...
   * RETURNING`); MySQL 8 has no `RETURNING`, so there a claim that finds a record reads it in a second statement.
   * @default detected from `SELECT VERSION()` on first use
   */
  dialect?: Dialect;
  /**
   * Bounds each operation, waiting for a pooled connection included; on expiry it fails with a `StoreTimeoutError`.
   * Also the connect timeout of a pool the store opens, so an unreachable server fails fast.
   * @default 1000
   */
  timeout?: Duration;
}

/** Every option name, checked against `MySqlStoreOptions` by the compiler, for refusing a misspelled one. */
const OPTION_NAMES: Record<keyof MySqlStoreOptions, true> = {
  pool: true,
  uri: true,
  table: true,
  dialect: true,
  timeout: true,
};

/**
 * Keeps records in a MariaDB (10.5+) or MySQL 8 table through `mysql2`. On MariaDB every operation is one statement,
 * so one round trip: a claim is a single `INSERT ... ON DUPLICATE KEY UPDATE ... RETURNING` that either claims the
 * key or returns the record that holds it. Leases and expiry are judged by the server's clock. Call `migrate()` once
 * at boot, or create the table yourself from `mysqlSchema()`.
 *
 * @example
 * const store = new MySqlStore({ pool: mysql.createPool({ uri: process.env.DATABASE_URL, connectionLimit: 10 }) });
 * await store.migrate();
 * const idem = createIdempotency({ store });
 */
export class MySqlStore implements StreamStore {
  readonly name = "mysql";
  readonly #table: string;
  readonly #streams: ReturnType<typeof mysqlStreams>;
  readonly #timeout: number;
  /**
   * How long one statement may go unanswered before its connection is destroyed: well past the store timeout (after
   * which the engine has already answered 503), so a slow but live statement still lands.
   */
  readonly #statementTimeout: number;
  readonly #dialect: Dialect | undefined;
  readonly #userPool: Pool | undefined;
  readonly #uri: string | undefined;
  #ownPool: Promise<Pool> | undefined;
  #operations: Promise<MySqlOperations> | undefined;
  #closed = false;

  constructor(options: MySqlStoreOptions) {
    rejectUnknownOptions("MySqlStore", options ?? {}, Object.keys(OPTION_NAMES));
    const { pool, uri, table = "oncely_records", dialect } = options ?? {};
    if ((pool === undefined) === (uri === undefined)) {
      throw new TypeError("Expected exactly one of `pool` (a mysql2 pool) and `uri`");
    }
    const promisePool = pool && "promise" in pool && typeof pool.promise === "function" ? pool.promise() : pool;
    if (promisePool !== undefined && typeof (promisePool as Partial<Pool>).execute !== "function") {
      throw new TypeError("Expected `pool` to be a mysql2 pool");
    }
    if (uri !== undefined && (typeof uri !== "string" || !URL.canParse(uri))) {
      throw new TypeError(
        `Expected \`uri\` to be a URI such as "mysql://user@host:3306/db", got ${JSON.stringify(uri)}`,
      );
    }
    if (dialect !== undefined && dialect !== "mariadb" && dialect !== "mysql") {
      throw new TypeError(`Expected \`dialect\` to be "mariadb" or "mysql", got ${JSON.stringify(dialect)}`);
    }
    quoteTable(table);
    this.#table = table;
    this.#streams = mysqlStreams(table);
    this.#dialect = dialect;
    this.#userPool = promisePool as Pool | undefined;
    this.#uri = uri;
    this.#timeout = toMilliseconds(options.timeout ?? 1000, "timeout");
    this.#statementTimeout = Math.max(3_000, 3 * this.#timeout);
  }

  /**
   * Creates the table and its indexes if missing (one `CREATE TABLE IF NOT EXISTS`) and the table of stream logs
   * beside it (`<table>_stream`, see `mysqlStreamSchema()`), and adds the columns of steps (`run_id`, `steps`, `work`,
   * `run_created_at`) and replay counts (`replays`) to a table an earlier oncely created. Safe when several processes
   * run it at once: the server's metadata lock serialises them.
   */
  async migrate(): Promise<void> {
    const pool = await this.#pool();
    await storeCall(this.name, "migrate", Math.max(this.#timeout, 30_000), async () => {
      await pool.query(mysqlSchema(this.#table));
      await pool.query(mysqlStreamSchema(this.#table));
      const ops = await this.#ops(pool);
      await ops.addStepColumns(this.#execute(pool), (sql) => pool.query(sql));
    });
  }

  claim(id: string, fingerprint: string, options: ClaimOptions): Promise<ClaimResult> {
    return this.#run("claim", (ops, execute) => ops.claim(execute, id, fingerprint, options));
  }

  renew(id: string, token: number, lease: number): Promise<boolean> {
    return this.#run("renew", (ops, execute) => ops.renew(execute, id, token, lease));
  }

  complete(id: string, token: number, response: StoredResponse, ttl: number): Promise<boolean> {
    return this.#run("complete", (ops, execute) => ops.complete(execute, id, token, response, ttl));
  }

  release(id: string, token: number): Promise<boolean> {
    return this.#run("release", (ops, execute) => ops.release(execute, id, token));
  }

  /**
   * One fenced `UPDATE ... SET steps = JSON_SET(...)`, judged by the server's clock; a run keeps at most 1,000 steps.
   * A refused write takes one read more, to tell a settled step (true) from a lost claim (false).
   */
  async saveStep(id: string, token: number, step: StepRecord): Promise<boolean> {
    checkStep(step);
    return this.#run("saveStep", (ops, execute) => ops.saveStep(execute, id, token, step));
  }

  /** One UPDATE per 256 ids, on live completed records only (the engine batches up to 1,000). */
  async countReplays(counts: ReadonlyMap<string, number>): Promise<void> {
    if (counts.size === 0) return;
    await this.#run("countReplays", (ops, execute) => ops.countReplays(execute, counts));
  }

  get(id: string): Promise<IdempotencyRecord | undefined> {
    return this.#run("get", (ops, execute) => ops.get(execute, id));
  }

  delete(id: string): Promise<boolean> {
    return this.#run("delete", (ops, execute) => ops.delete(execute, id));
  }

  list(options: ListOptions = {}): Promise<ListPage> {
    return this.#run("list", (ops, execute) => ops.list(execute, options));
  }

  /**
   * Appends a streamed response's entries in one `INSERT ... SELECT`, fenced by the token: it inserts only while the
   * token holds a live claim, and holds the record's row until it commits.
   */
  appendStream(id: string, token: number, entries: Uint8Array[], ttl: number): Promise<boolean> {
    return this.#run("appendStream", (_, execute) => this.#streams.append(execute, id, token, entries, ttl));
  }

  /**
   * Reads a run's entries and its state in one statement. With nothing new, polls (every 10 ms at first, growing by
   * half up to 200 ms) until an append, the run's end, or `wait` ms: MySQL cannot wake a reader on another's insert.
   */
  readStream(id: string, token: number, from: number, wait: number): Promise<StreamRead> {
    const read = () => this.#run("readStream", (_, execute) => this.#streams.read(execute, id, token, from));
    return wait > 0 ? pollStream(read, wait) : read();
  }

  /** Deletes expired records, and the expired entries of stream logs (not counted: they are not records). */
  purgeExpired(options: { limit?: number } = {}): Promise<number> {
    return this.#run("purgeExpired", async (ops, execute) => {
      const purged = await ops.purgeExpired(execute, options);
      await this.#streams.purgeExpired(execute);
      return purged;
    });
  }

  /** One SELECT of conditional COUNTs and MIN/MAX over the table, by the server's clock (no body is read). */
  aggregate(options: AggregateOptions = {}): Promise<StoreAggregate> {
    return this.#run("aggregate", (ops, execute) => ops.aggregate(execute, options));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const own = await this.#ownPool?.catch(() => undefined);
    if (!own) return;
    // pool.end() sends QUIT on every connection and waits for each to close, which one the network swallowed never
    // does: after the store timeout (a live server answers QUIT at once; a statement still running by then was
    // already answered 503), what is left is cut off.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ended = await Promise.race([
      own.end().then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), this.#timeout);
      }),
    ]);
    clearTimeout(timer);
    if (!ended) destroySockets(own);
  }

  async #run<T>(operation: string, body: (ops: MySqlOperations, execute: Execute) => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreError(this.name, operation, "failed: the store is closed");
    const pool = await this.#pool();
    const execute = this.#execute(pool);
    return storeCall(this.name, operation, this.#timeout, async () => body(await this.#ops(pool), execute));
  }

  #execute(pool: Pool): Execute {
    return async (sql, values) => {
      // A connection of its own per statement (as pool.execute takes one), so that a statement the network
      // swallowed can be given up: that connection is destroyed, not returned to the pool to hang every later user
      // and close() with it.
      const connection = await pool.getConnection();
      try {
        return await this.#bounded(connection, () => connection.execute({ sql, namedPlaceholders: true }, values));
      } finally {
        if (!lost.has(connection)) connection.release();
      }
    };
  }

  /**
   * One statement on `connection`, given up after the statement timeout: the connection is then destroyed (and
   * marked lost, so nobody returns it to the pool), since mysql2 would otherwise only end a socket a dead peer never
   * closes.
   */
  async #bounded(connection: PoolConnection, statement: () => Promise<[unknown, unknown]>): Promise<unknown> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const running = statement();
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          lost.add(connection);
          reject(new StoreError(this.name, "query", `got no answer within ${this.#statementTimeout} ms`));
        }, this.#statementTimeout);
      });
      return (await Promise.race([running, deadline]))[0];
    } finally {
      clearTimeout(timer);
      if (lost.has(connection)) {
        running.catch(() => {}); // it fails when its connection is destroyed; nobody waits for it any more
        connection.destroy();
        socketOf(connection)?.destroy();
      }
    }
  }

  /** The operations for the server's dialect; a failed detection is retried by the next operation. */
  #ops(pool: Pool): Promise<MySqlOperations> {
    this.#operations ??= (async () => {
      if (this.#dialect) return mysqlOperations(this.#table, this.#dialect);
      const [rows] = await pool.query("SELECT VERSION() AS version");
      const version = String((rows as { version?: unknown }[])[0]?.version);
      return mysqlOperations(this.#table, /mariadb/i.test(version) ? "mariadb" : "mysql");
    })().catch((error: unknown) => {
      this.#operations = undefined;
      throw error;
    });
    return this.#operations;
  }

  #pool(): Promise<Pool> {
    if (this.#userPool) return Promise.resolve(this.#userPool);
    this.#ownPool ??= this.#open().catch((error: unknown) => {
      this.#ownPool = undefined;
      throw error;
    });
    return this.#ownPool;
  }

  async #open(): Promise<Pool> {
    const module = (await loadDriver(
      "mysql",
      "MySqlStore",
      "mysql2",
      () => import("mysql2/promise"),
    )) as typeof import("mysql2/promise") & { default?: typeof import("mysql2/promise") };
    const mysql = module.default ?? module;
    return mysql.createPool({ uri: this.#uri, connectionLimit: 10, connectTimeout: this.#timeout });
  }
}

/** Connections given up after a statement timeout: destroyed, never released to the pool again. */
const lost = new WeakSet<PoolConnection>();

type WithSocket = { stream?: { destroy(): void } };

/** The socket under a mysql2 promise connection (mysql2 offers no forced close; these fields have long been stable). */
function socketOf(connection: unknown): WithSocket["stream"] {
  return (connection as { connection?: WithSocket }).connection?.stream;
}

/** Cuts off every connection of a mysql2 promise pool, for a close() that cannot wait on a dead peer. */
function destroySockets(pool: Pool): void {
  const core = (pool as unknown as { pool?: { _allConnections?: { toArray(): WithSocket[] } } }).pool;
  for (const connection of core?._allConnections?.toArray() ?? []) connection.stream?.destroy();
}
