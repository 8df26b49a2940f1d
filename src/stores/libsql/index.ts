/**
 * A store on libSQL (Turso, sqld, or a local SQLite file) through `@libsql/client`.
 *
 * @module oncely/stores/libsql
 */

import type { Client, InArgs, InStatement, ResultSet } from "@libsql/client";
import { type Duration, toMilliseconds } from "../../core/duration.js";
import { isOncelyError, StoreError } from "../../core/errors.js";
import type {
  ClaimOptions,
  ClaimResult,
  IdempotencyRecord,
  ListOptions,
  ListPage,
  StepRecord,
  StepStore,
  StoredResponse,
  StreamRead,
  StreamStore,
} from "../../core/store.js";
import { rejectUnknownOptions } from "../../core/unknown-options.js";
import { decodeCursor, pageOf } from "../shared/keyset-cursor.js";
import { loadDriver } from "../shared/optional-driver.js";
import { pollStream } from "../shared/poll-stream.js";
import { stepsFromJson } from "../shared/step-record.js";
import {
  checkTableAndClock,
  claimParams,
  type Row,
  STEP_COLUMNS,
  sqliteSchema,
  statementsSql,
  stepJson,
  stepSaved,
  toRecord,
} from "../sqlite/sql.js";
import { type RunRow, runState, sqliteStreamSchema, sqliteStreamSql } from "../sqlite/stream.js";

/** Options of `LibsqlStore`: a client you made, or a URL to make one from. */
export interface LibsqlStoreOptions {
  /** A `@libsql/client` `Client` you made (`createClient(...)`). The store never closes it. Give `client` or `url`. */
  client?: Client;
  /**
   * A libSQL URL the store opens a client for (and closes on `close()`): `file:oncely.db` for a local file,
   * `libsql://<db>.turso.io` or `http://127.0.0.1:8080` for a server.
   */
  url?: string;
  /** The auth token for `url` (Turso's database token). */
  authToken?: string;
  /**
   * The table records live in; letters, digits and underscores.
   * @default "oncely_records"
   */
  table?: string;
  /**
   * For a local file the store opens itself: how long an operation waits for another process's write lock
   * (SQLite's `busy_timeout`) before it fails with a `StoreError`.
   * @default 1000
   */
  timeout?: Duration;
  /** The clock, epoch ms. Tests inject one to move time without sleeping. @default Date.now */
  now?: () => number;
}

const OPTION_NAMES: readonly (keyof LibsqlStoreOptions)[] = ["client", "url", "authToken", "table", "timeout", "now"];

type Sql = ReturnType<typeof statementsSql>;

/**
 * Keeps records in a libSQL database: a local SQLite file, a sqld server or Turso, from Node.js, Bun, Deno or (over
 * HTTP) an edge runtime. It runs the SQLite store's SQL: a claim is one `INSERT ... ON CONFLICT DO UPDATE ...
 * RETURNING`, sent with the takeover of a lapsed lease and the read of the record it found as one batch, which libSQL
 * runs as one write transaction: one round trip per claim, a replay answered by its claim.
 *
 * @example
 * import { createClient } from "@libsql/client";
 * const store = new LibsqlStore({ client: createClient({ url: "file:oncely.db" }) });
 */
export class LibsqlStore implements StepStore, StreamStore {
  readonly name = "libsql";
  readonly #table: string;
  readonly #now: () => number;
  readonly #url: string | undefined;
  readonly #authToken: string | undefined;
  readonly #userClient: Client | undefined;
  readonly #timeout: number;
  readonly #sql: Sql;
  readonly #streams: ReturnType<typeof sqliteStreamSql>;
  #client: Promise<Client> | undefined;
  #closed = false;

  constructor(options: LibsqlStoreOptions) {
    const { client, url, authToken, table = "oncely_records" } = options ?? {};
    rejectUnknownOptions("LibsqlStore", options ?? {}, OPTION_NAMES);
    if ((client === undefined) === (url === undefined)) {
      throw new TypeError("Expected exactly one of `client` (a @libsql/client Client) and `url`");
    }
    if (client !== undefined && typeof (client as Partial<Client>).batch !== "function") {
      throw new TypeError("Expected `client` to be a @libsql/client Client (createClient({ url }))");
    }
    if (url !== undefined && (typeof url !== "string" || url === "")) {
      throw new TypeError(`Expected \`url\` to be a libSQL URL such as "file:oncely.db", got ${JSON.stringify(url)}`);
    }
    checkTableAndClock(table, options.now);
    this.#userClient = client;
    this.#url = url;
    this.#authToken = authToken;
    this.#table = table;
    this.#timeout = toMilliseconds(options.timeout ?? 1000, "timeout");
    this.#now = options.now ?? Date.now;
    this.#sql = statementsSql(table);
    this.#streams = sqliteStreamSql(table);
  }

  /**
   * Creates the table and the stream logs' table (`<table>_stream`) if missing, and adds the columns an earlier
   * version lacked. The first operation does it too.
   */
  async migrate(): Promise<void> {
    await this.#run("migrate", async () => undefined);
  }

  claim(id: string, fingerprint: string, options: ClaimOptions): Promise<ClaimResult> {
    return this.#run("claim", async (client) => {
      const params = claimParams(id, fingerprint, options, this.#now());
      // One write transaction: the upsert claims a new, expired or released record; failing that, the takeover
      // claims a lapsed lease (its guard makes it a no-op after a successful upsert); the read shows what was found.
      const [fresh, takenOver, found] = await client.batch(
        [
          this.#statement("claim", params.upsert),
          this.#statement("takeOverLapsed", params.takeOver),
          { sql: this.#sql.select, args: [id] },
        ],
        "write",
      );
      if (fresh!.rows[0]) return claimed(fresh!.rows[0], false);
      if (takenOver!.rows[0]) return claimed(takenOver!.rows[0], true);
      const record = toStoreRecord(found!.rows[0]!);
      return record.state === "completed" ? { status: "completed", record } : { status: "in-flight", record };
    });
  }

  renew(id: string, token: number, lease: number): Promise<boolean> {
    return this.#write("renew", { id, token, now: this.#now(), leaseUntil: this.#now() + lease });
  }

  complete(id: string, token: number, response: StoredResponse, ttl: number): Promise<boolean> {
    const now = this.#now();
    const { status, headers, body, kept } = response;
    const params = { id, token, now, expiresAt: now + ttl, status, headers: JSON.stringify(headers), body };
    return this.#write("complete", { ...params, kept: kept ? 1 : 0 });
  }

  release(id: string, token: number): Promise<boolean> {
    return this.#write("release", { id, token, now: this.#now() });
  }

  saveStep(id: string, token: number, step: StepRecord): Promise<boolean> {
    return this.#run("saveStep", async (client) => {
      const params = { id, token, now: this.#now(), name: step.name, step: stepJson(step) };
      const row = (await client.execute(this.#statement("saveStep", params))).rows[0];
      return stepSaved(this.name, row);
    });
  }

  /** One write batch of UPDATEs; ids without a live completed record are skipped. */
  async countReplays(counts: ReadonlyMap<string, number>): Promise<void> {
    if (counts.size === 0) return;
    await this.#run("countReplays", async (client) => {
      const now = this.#now();
      const updates = [...counts].map(([id, count]) => this.#statement("countReplays", { id, count, now }));
      await client.batch(updates, "write");
    });
  }

  get(id: string): Promise<IdempotencyRecord | undefined> {
    return this.#run("get", async (client) => {
      const row = (await client.execute({ sql: this.#sql.get, args: [id, this.#now()] })).rows[0];
      return row && toStoreRecord(row);
    });
  }

  delete(id: string): Promise<boolean> {
    return this.#run("delete", async (client) => {
      return (await client.execute({ sql: this.#sql.delete, args: [id] })).rowsAffected === 1;
    });
  }

  list(options: ListOptions = {}): Promise<ListPage> {
    return this.#run("list", async (client) => {
      const limit = options.limit ?? 100;
      const [afterCreated, afterId] = options.cursor ? decodeCursor(options.cursor) : [null, null];
      const params = { now: this.#now(), state: options.state ?? null, since: options.since ?? null };
      const { rows } = await client.execute(
        this.#statement("list", { ...params, afterCreated, afterId, limit: limit + 1 }),
      );
      return pageOf(rows, limit, toStoreRecord);
    });
  }

  /**
   * Appends in one write batch (one transaction, one round trip), each entry inserted by the SQLite store's fenced
   * `INSERT ... SELECT ... WHERE EXISTS`: the first insert is the fence, the others see what it saw.
   */
  appendStream(id: string, token: number, entries: Uint8Array[], ttl: number): Promise<boolean> {
    return this.#run("appendStream", async (client) => {
      const now = this.#now();
      if (entries.length === 0) {
        return (await client.execute({ sql: this.#streams.held, args: { id, token, now } })).rows.length > 0;
      }
      const inserts = entries.map((entry) => ({
        sql: this.#streams.insert,
        args: { id, token, now, entry, expiresAt: now + ttl },
      }));
      const [first] = await client.batch(inserts, "write");
      return first!.rowsAffected === 1;
    });
  }

  /**
   * The run's state and its entries in one read batch (one transaction, so one snapshot). With nothing new, polls
   * (every 10 ms at first, growing by half up to 200 ms): libSQL cannot wake a reader on another client's write.
   */
  readStream(id: string, token: number, from: number, wait: number): Promise<StreamRead> {
    const read = () =>
      this.#run("readStream", async (client) => {
        const [run, found] = await client.batch(
          [
            { sql: this.#streams.run, args: { id } },
            { sql: this.#streams.entries, args: { id, token, from } },
          ],
          "read",
        );
        const state = runState(run!.rows[0] as unknown as RunRow | undefined, token, this.#now());
        return { state, entries: found!.rows.map((row) => new Uint8Array(row.entry as ArrayBuffer)) };
      });
    return wait > 0 ? pollStream(read, wait) : read();
  }

  /** Deletes expired records, and the expired entries of stream logs (not counted: they are not records). */
  purgeExpired(options: { limit?: number } = {}): Promise<number> {
    // LIMIT -1 is SQLite's "no limit".
    const limit = options.limit ?? -1;
    return this.#run("purgeExpired", async (client) => {
      const now = this.#now();
      const [purged] = await client.batch(
        [this.#statement("purge", { now, limit }), { sql: this.#streams.purge, args: { now } }],
        "write",
      );
      return purged!.rowsAffected;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = await this.#client?.catch(() => undefined);
    if (client && !this.#userClient) client.close();
  }

  /** A named statement with only the parameters its SQL names: libSQL refuses arguments a statement lacks. */
  #statement(name: keyof Sql, params: Record<string, unknown>): InStatement {
    const sql = this.#sql[name];
    const args = Object.fromEntries(Object.entries(params).filter(([key]) => new RegExp(`@${key}\\b`).test(sql)));
    return { sql, args: args as InArgs };
  }

  /** A fenced UPDATE: true when it changed the one row. */
  #write(operation: "renew" | "complete" | "release", params: Record<string, unknown>): Promise<boolean> {
    return this.#run(operation, async (client) => {
      return (await client.execute(this.#statement(operation, params))).rowsAffected === 1;
    });
  }

  /** Runs one operation on the (lazily opened and migrated) client, mapping driver errors to oncely's store errors. */
  async #run<T>(operation: string, body: (client: Client) => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreError(this.name, operation, "failed: the store is closed");
    // A failed open is not cached: the next operation tries again (the server may have been down).
    this.#client ??= this.#open().catch((error: unknown) => {
      this.#client = undefined;
      throw error;
    });
    const client = await this.#client;
    try {
      return await body(client);
    } catch (error) {
      if (isOncelyError(error)) throw error;
      throw new StoreError(this.name, operation, `failed: ${(error as Error).message}`, { cause: error });
    }
  }

  async #open(): Promise<Client> {
    // A missing driver fails here with a line that says what to install; it is not a StoreError.
    const driver = this.#userClient
      ? undefined
      : await loadDriver("libsql", "LibsqlStore", "@libsql/client", () => import("@libsql/client"));
    let client: Client | undefined;
    try {
      // A local file is opened right here: a bad path throws from createClient itself.
      // `timeout` is the busy timeout of every pooled connection to a local file: processes sharing the file wait
      // for each other's write lock, as SqliteStore's connections do, instead of failing at once with SQLITE_BUSY.
      client =
        this.#userClient ??
        driver!.createClient({ url: this.#url!, authToken: this.#authToken, timeout: this.#timeout });
      if (!this.#userClient && this.#url!.startsWith("file:")) {
        // WAL (kept in the file) lets readers go on while one connection writes. A client you made keeps its own.
        await client.execute("PRAGMA journal_mode = WAL");
      }
      await client.executeMultiple(`${sqliteSchema(this.#table)}\n${sqliteStreamSchema(this.#table)}`);
      const columns = await client.execute(`PRAGMA table_info("${this.#table}")`);
      const have = new Set(columns.rows.map((column) => column.name));
      const missing = STEP_COLUMNS.filter(([name]) => !have.has(name));
      // A racing process may add a column first: the loser's ALTER fails, and its next open finds the columns.
      if (missing.length > 0) {
        const alters = missing.map(
          ([name, definition]) => `ALTER TABLE "${this.#table}" ADD COLUMN ${name} ${definition}`,
        );
        await client.batch(alters, "write");
      }
      return client;
    } catch (error) {
      if (!this.#userClient) client?.close();
      throw new StoreError(this.name, "open", `failed: ${(error as Error).message}`, { cause: error });
    }
  }
}

type LibsqlRow = ResultSet["rows"][number];

/** A row as the SQLite store's mapping reads it: libSQL answers a BLOB as an ArrayBuffer. */
function toStoreRecord(row: LibsqlRow): IdempotencyRecord {
  const body = row.body as ArrayBuffer | null;
  return toRecord({ ...(row as unknown as Row), body: body === null ? null : new Uint8Array(body) });
}

function claimed(row: LibsqlRow, recovered: boolean): ClaimResult {
  const runId = row.run_id as string | null;
  return {
    status: "claimed",
    token: Number(row.token),
    recovered,
    runId: runId ?? undefined,
    steps: stepsFromJson(row.steps as string | null),
  };
}
