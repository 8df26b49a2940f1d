/**
 * A store on SQLite: the runtime's built-in `node:sqlite` (Node.js 22.13+) or better-sqlite3 (Node.js 20).
 *
 * @module oncely/stores/sqlite
 */
import type BetterSqlite3 from "better-sqlite3";
import { type Duration, toMilliseconds } from "../../core/duration.js";
import { isOncelyError, StoreError, StoreTimeoutError } from "../../core/errors.js";
import type {
  AggregateOptions,
  ClaimOptions,
  ClaimResult,
  IdempotencyRecord,
  ListOptions,
  ListPage,
  StepRecord,
  StepStore,
  StoreAggregate,
  StoredResponse,
  StreamRead,
  StreamStore,
} from "../../core/store.js";
import { rejectUnknownOptions } from "../../core/unknown-options.js";
import { decodeCursor, pageOf } from "../shared/keyset-cursor.js";
import { pollStream } from "../shared/poll-stream.js";
import { type AggregateRow, toAggregate } from "../shared/sql-aggregate.js";
import { stepsFromJson } from "../shared/step-record.js";
import {
  DRIVER_NAMES,
  detectDriver,
  loadSqliteDriver,
  type NodeSqliteDatabase,
  type NodeSqliteStatement,
  type SqliteConnection,
  type SqliteDriverName,
  type SqliteStatement,
  type SqlParams,
  type SqlValue,
  wrapDatabase,
} from "./driver.js";
import {
  addStepColumns,
  checkTableAndClock,
  claimParams,
  prepare,
  type Row,
  type Statements,
  sqliteSchema,
  stepJson,
  stepSaved,
  toRecord,
} from "./sql.js";
import { SqliteStreams, sqliteStreamSchema } from "./stream.js";

export type { NodeSqliteDatabase, NodeSqliteStatement, SqliteDriverName, SqliteStatement, SqlParams, SqlValue };
export { sqliteSchema, sqliteStreamSchema };

/** A database you opened: better-sqlite3's `Database` or `node:sqlite`'s `DatabaseSync`. */
export type SqliteDatabase = BetterSqlite3.Database | NodeSqliteDatabase;

/** Options of `SqliteStore`: a database file to open, or a database you opened. */
export interface SqliteStoreOptions {
  /** The database file the store opens (and closes on `close()`); `":memory:"` for a private in-memory database. */
  path?: string;
  /**
   * A database you opened yourself: a better-sqlite3 `Database` or a `node:sqlite` `DatabaseSync`. The store leaves
   * its pragmas (journal mode, busy timeout) as they are and never closes it. Give either `path` or `database`.
   */
  database?: SqliteDatabase;
  /**
   * Which driver runs SQLite. By default, `node:sqlite` on Node.js 24 and newer (built in, nothing to install); on
   * Node.js 20 and 22 better-sqlite3 when it is installed, else `node:sqlite` where the runtime has it (22.13+, which
   * prints Node's ExperimentalWarning once). With `database`, the kind of database given, unless named here.
   */
  driver?: SqliteDriverName;
  /**
   * The table records live in; letters, digits and underscores.
   * @default "oncely_records"
   */
  table?: string;
  /**
   * How long an operation waits for another connection's write lock (SQLite's `busy_timeout`) before failing with
   * a `StoreTimeoutError`. Applies to a database the store opens itself. Both drivers are synchronous, so the wait
   * blocks this process's event loop: keep it short.
   * @default 1000
   */
  timeout?: Duration;
  /** The clock, epoch ms. Tests inject one to move time without sleeping. @default Date.now */
  now?: () => number;
}

/** The option names `SqliteStore` knows; any other is refused (a typo would silently fall back to a default). */
const OPTION_NAMES: readonly (keyof SqliteStoreOptions)[] = ["path", "database", "driver", "table", "timeout", "now"];

interface Opened {
  db: SqliteConnection;
  sql: Statements;
  busyTimeout: number;
  /** The stream logs' statements, prepared (and their table created) on first use. */
  streams?: SqliteStreams;
}

/**
 * Keeps records in a SQLite file: durable across restarts, and shared safely by several processes on one machine
 * (WAL mode; each claim is one `BEGIN IMMEDIATE` transaction). Runs on the runtime's built-in `node:sqlite` where it
 * exists and on better-sqlite3 on Node.js 20 (see `driver`). The CLI's default store.
 *
 * @example
 * const idem = createIdempotency({ store: new SqliteStore({ path: "./oncely.db" }) });
 */
export class SqliteStore implements StepStore, StreamStore {
  readonly name = "sqlite";
  readonly #table: string;
  readonly #now: () => number;
  readonly #timeout: number;
  readonly #path: string | undefined;
  readonly #userDatabase: SqliteDatabase | undefined;
  readonly #driver: SqliteDriverName | undefined;
  #opened: Promise<Opened> | undefined;
  #closed = false;

  constructor(options: SqliteStoreOptions) {
    const { path, database, driver, table = "oncely_records" } = options ?? {};
    rejectUnknownOptions("SqliteStore", options ?? {}, OPTION_NAMES);
    if ((path === undefined) === (database === undefined)) {
      throw new TypeError('Expected exactly one of `path` (a file name or ":memory:") and `database`');
    }
    if (path !== undefined && (typeof path !== "string" || path === "")) {
      throw new TypeError(`Expected \`path\` to be a file name or ":memory:", got ${JSON.stringify(path)}`);
    }
    if (database !== undefined && typeof (database as Partial<NodeSqliteDatabase>).prepare !== "function") {
      throw new TypeError("Expected `database` to be a better-sqlite3 Database or a node:sqlite DatabaseSync");
    }
    if (driver !== undefined && !DRIVER_NAMES.includes(driver)) {
      const names = DRIVER_NAMES.map((name) => JSON.stringify(name)).join(" or ");
      throw new TypeError(`Expected \`driver\` to be ${names}, got ${JSON.stringify(driver)}`);
    }
    checkTableAndClock(table, options.now);
    this.#path = path;
    this.#userDatabase = database;
    this.#driver = driver;
    this.#table = table;
    this.#now = options.now ?? Date.now;
    this.#timeout = toMilliseconds(options.timeout ?? 1000, "timeout");
  }

  /** Opens the database and creates the table if missing. Optional: the first operation does it too. */
  async migrate(): Promise<void> {
    await this.#run("migrate", () => undefined);
  }

  claim(id: string, fingerprint: string, options: ClaimOptions): Promise<ClaimResult> {
    return this.#run("claim", ({ db, sql }) => {
      const now = this.#now();
      const params = claimParams(id, fingerprint, options, now);
      // IMMEDIATE takes the write lock up front, so the read after a refused upsert sees the row that refused it.
      return db.transaction((): ClaimResult => {
        const fresh = sql.claim.get(params.upsert) as Row | undefined;
        if (fresh) return claimed(fresh, false);
        // Only a lapsed lease is left to take over. It is rare, and RETURNING shows only the new row, so it runs
        // after the read that tells it apart from a released record (which is not a recovery).
        const record = toRecord(sql.select.get(id) as Row);
        if (record.state === "completed") return { status: "completed", record };
        if (record.leaseUntil <= now && record.fingerprint === fingerprint) {
          return claimed(sql.takeOverLapsed.get(params.takeOver) as Row, true);
        }
        return { status: "in-flight", record };
      });
    });
  }

  renew(id: string, token: number, lease: number): Promise<boolean> {
    return this.#run("renew", ({ sql }) => {
      const now = this.#now();
      return sql.renew.run({ id, token, now, leaseUntil: now + lease }).changes === 1;
    });
  }

  complete(id: string, token: number, response: StoredResponse, ttl: number): Promise<boolean> {
    return this.#run("complete", ({ sql }) => {
      const now = this.#now();
      const { status, headers, body, kept } = response;
      const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      const params = { id, token, now, expiresAt: now + ttl, status, headers: JSON.stringify(headers), body: bytes };
      return sql.complete.run({ ...params, kept: kept ? 1 : 0 }).changes === 1;
    });
  }

  release(id: string, token: number): Promise<boolean> {
    return this.#run("release", ({ sql }) => sql.release.run({ id, token, now: this.#now() }).changes === 1);
  }

  saveStep(id: string, token: number, step: StepRecord): Promise<boolean> {
    return this.#run("saveStep", ({ sql }) => {
      const params = { id, token, now: this.#now(), name: step.name, step: stepJson(step) };
      const row = sql.saveStep.get(params) as { saved: number } | undefined;
      return stepSaved(this.name, row);
    });
  }

  appendStream(id: string, token: number, entries: Uint8Array[], ttl: number): Promise<boolean> {
    return this.#run("appendStream", (opened) => {
      const now = this.#now();
      return this.#streamsOf(opened).append(id, token, entries, now, now + ttl);
    });
  }

  /** Polls within `wait` (every 10 ms at first, up to 200 ms): SQLite cannot wake a reader in another connection. */
  readStream(id: string, token: number, from: number, wait: number): Promise<StreamRead> {
    const read = () => this.#run("readStream", (opened) => this.#streamsOf(opened).read(id, token, from, this.#now()));
    return wait > 0 ? pollStream(read, wait) : read();
  }

  #streamsOf(opened: Opened): SqliteStreams {
    opened.streams ??= new SqliteStreams(opened.db, this.#table);
    return opened.streams;
  }

  /** One write transaction of prepared UPDATEs; ids without a live completed record are skipped. */
  async countReplays(counts: ReadonlyMap<string, number>): Promise<void> {
    if (counts.size === 0) return;
    await this.#run("countReplays", ({ db, sql }) => {
      const now = this.#now();
      db.transaction(() => {
        for (const [id, count] of counts) sql.countReplays.run({ id, count, now });
      });
    });
  }

  get(id: string): Promise<IdempotencyRecord | undefined> {
    return this.#run("get", ({ sql }) => {
      const row = sql.get.get(id, this.#now()) as Row | undefined;
      return row && toRecord(row);
    });
  }

  delete(id: string): Promise<boolean> {
    return this.#run("delete", ({ sql }) => sql.delete.run(id).changes === 1);
  }

  list(options: ListOptions = {}): Promise<ListPage> {
    return this.#run("list", ({ sql }) => {
      const limit = options.limit ?? 100;
      const [afterCreated, afterId] = options.cursor ? decodeCursor(options.cursor) : [null, null];
      const rows = sql.list.all({
        now: this.#now(),
        state: options.state ?? null,
        since: options.since ?? null,
        afterCreated,
        afterId,
        limit: limit + 1,
      }) as Row[];
      return pageOf(rows, limit, toRecord);
    });
  }

  purgeExpired(options: { limit?: number } = {}): Promise<number> {
    // LIMIT -1 is SQLite's "no limit".
    const limit = options.limit ?? -1;
    return this.#run("purgeExpired", (opened) => {
      const now = this.#now();
      // Stream entries expire with their records; they are not records, so they are not counted.
      if (opened.streams || this.#hasStreamTable(opened.db)) this.#streamsOf(opened).purgeExpired(now);
      return opened.sql.purge.run({ now, limit }).changes;
    });
  }

  /** One SELECT of conditional COUNTs and MIN/MAX over the table (no body is read). */
  aggregate(options: AggregateOptions = {}): Promise<StoreAggregate> {
    return this.#run("aggregate", ({ sql }) => {
      const now = this.#now();
      const soon = now + (options.expiringWithin ?? 3_600_000);
      return toAggregate(sql.aggregate.get({ now, soon }) as AggregateRow);
    });
  }

  #hasStreamTable(db: SqliteConnection): boolean {
    return (
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(`${this.#table}_stream`) !==
      undefined
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const opened = await this.#opened?.catch(() => undefined);
    if (opened && !this.#userDatabase) opened.db.close();
  }

  /** Runs one operation on the (lazily opened) database, mapping driver errors to oncely's store errors. */
  async #run<T>(operation: string, body: (opened: Opened) => T): Promise<T> {
    if (this.#closed) throw new StoreError(this.name, operation, "failed: the store is closed");
    // A failed open is not cached: the next operation tries again (the file may have been locked or missing).
    this.#opened ??= this.#open().catch((error: unknown) => {
      this.#opened = undefined;
      throw error;
    });
    const opened = await this.#opened;
    try {
      return body(opened);
    } catch (error) {
      if (isOncelyError(error)) throw error;
      if (opened.db.isBusy(error)) {
        const message = `timed out after ${opened.busyTimeout} ms waiting for the database lock`;
        throw new StoreTimeoutError(this.name, operation, message, { cause: error });
      }
      throw new StoreError(this.name, operation, `failed: ${(error as Error).message}`, { cause: error });
    }
  }

  async #open(): Promise<Opened> {
    let db: SqliteConnection | undefined;
    if (this.#userDatabase) {
      db = wrapDatabase(this.#userDatabase, this.#driver ?? detectDriver(this.#userDatabase));
    } else {
      // A missing driver fails here with a line that says what to install; it is not a StoreError.
      const open = await loadSqliteDriver(this.#driver);
      try {
        db = open(this.#path!);
        db.exec(`PRAGMA busy_timeout = ${this.#timeout}`);
        // WAL lets readers run beside the one writer, across processes; NORMAL sync is durable across process
        // crashes (a power loss may drop the last commits) and avoids an fsync per claim.
        db.exec("PRAGMA journal_mode = WAL");
        db.exec("PRAGMA synchronous = NORMAL");
      } catch (error) {
        db?.close();
        throw new StoreError(this.name, "open", `failed: ${(error as Error).message}`, { cause: error });
      }
    }
    try {
      db.exec(sqliteSchema(this.#table));
      addStepColumns(db, this.#table);
      const { timeout } = db.prepare("PRAGMA busy_timeout").get() as { timeout: number };
      return { db, sql: prepare(db, this.#table), busyTimeout: Number(timeout) };
    } catch (error) {
      if (!this.#userDatabase) db.close();
      throw new StoreError(this.name, "open", `failed: ${(error as Error).message}`, { cause: error });
    }
  }
}

function claimed(row: Pick<Row, "token" | "run_id" | "steps">, recovered: boolean): ClaimResult {
  return {
    status: "claimed",
    token: row.token,
    recovered,
    runId: row.run_id ?? undefined,
    steps: stepsFromJson(row.steps),
  };
}
