import { StoreError } from "../../core/errors.js";
import { type ClaimOptions, type IdempotencyRecord, RECORD_FORMAT_VERSION, type StepRecord } from "../../core/store.js";
import { aggregateSql } from "../shared/sql-aggregate.js";
import { stepsFromJson } from "../shared/step-record.js";
import type { SqliteConnection, SqliteStatement } from "./driver.js";

// The SQL the SQLite store runs, and how its rows map back to records.

export const TABLE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Checks the options every store on this SQL shares (SQLite, libSQL): the table name and an injected clock. */
export function checkTableAndClock(table: unknown, now: unknown): void {
  if (typeof table !== "string" || !TABLE.test(table)) {
    throw new TypeError(`Expected \`table\` to be letters, digits and underscores, got ${JSON.stringify(table)}`);
  }
  if (now !== undefined && typeof now !== "function") {
    throw new TypeError("Expected `now` to be a function returning epoch milliseconds");
  }
}

/**
 * The named parameters of the `takeOverLapsed` statement; the `claim` statement takes `meta` and `version` as well
 * (`claimParams(...).upsert`).
 */
export function claimParams(id: string, fingerprint: string, options: ClaimOptions, now: number) {
  const takeOver = {
    id,
    fingerprint,
    now,
    leaseUntil: now + options.lease,
    expiresAt: now + options.ttl,
    runId: options.runId ?? crypto.randomUUID(),
    work: options.work ? JSON.stringify({ name: options.work.name, input: options.work.input }) : null,
  };
  return { takeOver, upsert: { ...takeOver, meta: JSON.stringify(options.meta), version: RECORD_FORMAT_VERSION } };
}

/** What a `saveStep` statement's row says: saved, refused (no live claim of that token: false), or over the limit. */
export function stepSaved(store: string, row: object | undefined): boolean {
  if (!row) return false;
  if (!(row as { saved?: unknown }).saved)
    throw new StoreError(store, "saveStep", `failed: the run holds ${MAX_STEPS} steps already`);
  return true;
}

/** The schema the store creates on first use, for teams that run their own migrations. */
export function sqliteSchema(table = "oncely_records"): string {
  checkTableAndClock(table, undefined);
  return `CREATE TABLE IF NOT EXISTS "${table}" (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  token INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  lease_until INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  completed_at INTEGER,
  status INTEGER,
  headers TEXT,
  body BLOB,
  kept INTEGER,
  meta TEXT NOT NULL,
  version INTEGER NOT NULL,
  run_id TEXT,
  steps TEXT NOT NULL DEFAULT '{}',
  work TEXT,
  run_created_at INTEGER,
  replays INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS "${table}_expires_at" ON "${table}" (expires_at);
CREATE INDEX IF NOT EXISTS "${table}_created_at" ON "${table}" (created_at, id);`;
}

/** The most steps one run may record; the engine enforces its own, lower, limit first. */
export const MAX_STEPS = 1_000;

/**
 * The columns steps and replay counts added to the table, for tables an earlier version created: the store adds the
 * missing ones when it opens the database. `steps` holds a JSON object of the run's steps by name (`{"charge":{"seq":1,"state":"done",
 * "value":"<JSON text>"}}`), `work` the JSON of the stored work, `run_created_at` the `created_at` of the record the
 * run belongs to: an earlier oncely, running beside this one in a rolling deploy, replaces an expired record without
 * touching the run's columns, and a run whose `run_created_at` is not its record's `created_at` is then stale.
 */
export const STEP_COLUMNS: readonly [name: string, definition: string][] = [
  ["run_id", "TEXT"],
  ["steps", "TEXT NOT NULL DEFAULT '{}'"],
  ["work", "TEXT"],
  ["run_created_at", "INTEGER"],
  // How often the completed record was replayed (`countReplays`); a claim that replaces the record starts it at 0.
  ["replays", "INTEGER NOT NULL DEFAULT 0"],
];

/** Adds the step columns to a table created without them; one write transaction, so racing processes add them once. */
export function addStepColumns(db: SqliteConnection, table: string): void {
  const missing = () => {
    const columns = db.prepare(`PRAGMA table_info("${table}")`).all() as { name: string }[];
    const have = new Set(columns.map((column) => column.name));
    return STEP_COLUMNS.filter(([name]) => !have.has(name));
  };
  if (missing().length === 0) return;
  db.transaction(() => {
    for (const [name, definition] of missing()) db.exec(`ALTER TABLE "${table}" ADD COLUMN ${name} ${definition}`);
  });
}

export interface Row {
  id: string;
  state: IdempotencyRecord["state"];
  fingerprint: string;
  token: number;
  created_at: number;
  lease_until: number;
  expires_at: number;
  completed_at: number | null;
  status: number | null;
  headers: string | null;
  body: Uint8Array | null;
  kept: number | null;
  meta: string;
  version: number;
  run_id: string | null;
  steps: string | null;
  work: string | null;
  run_created_at: number | null;
  replays: number;
}

type StatementName =
  | "claim"
  | "takeOverLapsed"
  | "select"
  | "renew"
  | "complete"
  | "release"
  | "get"
  | "delete"
  | "list"
  | "purge"
  | "aggregate"
  | "saveStep"
  | "countReplays";
export type Statements = Record<StatementName, SqliteStatement>;

/** Every statement the store runs, prepared once per connection. */
export function prepare(db: SqliteConnection, table: string): Statements {
  const sql = statementsSql(table);
  return Object.fromEntries(Object.entries(sql).map(([name, text]) => [name, db.prepare(text)])) as Statements;
}

/**
 * The text of every statement the SQLite store runs, with named parameters (`@id`). Each write carries its own guard.
 * The libSQL store runs the same SQL.
 */
export function statementsSql(table: string): Record<StatementName, string> {
  const t = `"${table}"`;
  const held = "id = @id AND token = @token AND state = 'in-flight' AND expires_at > @now";
  // Whether a claim that finds the row continues its run: the row is live and the run is its record's own.
  const keepRun = "expires_at > @now AND run_id IS NOT NULL AND run_created_at IS created_at";
  return {
    // Inserts a fresh record, replaces an expired one, or takes over a released one with the same fingerprint.
    // SQLite evaluates every SET expression against the old row, so the CASEs see the state before the update.
    // A takeover keeps the run id, steps and work; a record made afresh after expiry starts a new run, and so does the
    // takeover of a stale run (see STEP_COLUMNS) or of a record written before steps existed.
    claim: `INSERT INTO ${t} (id, state, fingerprint, token, created_at, lease_until, expires_at, meta,
        version, run_id, steps, work, run_created_at)
      VALUES (@id, 'in-flight', @fingerprint, @now, @now, @leaseUntil, @expiresAt, @meta, @version, @runId, '{}',
        @work, @now)
      ON CONFLICT (id) DO UPDATE SET
        state = 'in-flight',
        fingerprint = excluded.fingerprint,
        token = CASE WHEN expires_at <= @now THEN max(@now, token + 1) ELSE token + 1 END,
        created_at = CASE WHEN expires_at <= @now THEN @now ELSE created_at END,
        lease_until = excluded.lease_until,
        expires_at = CASE WHEN expires_at <= @now THEN excluded.expires_at ELSE max(expires_at, excluded.expires_at) END,
        completed_at = NULL, status = NULL, headers = NULL, body = NULL, kept = NULL,
        meta = CASE WHEN expires_at <= @now THEN excluded.meta ELSE meta END,
        version = CASE WHEN expires_at <= @now THEN excluded.version ELSE version END,
        run_id = CASE WHEN ${keepRun} THEN run_id ELSE excluded.run_id END,
        steps = CASE WHEN ${keepRun} THEN steps ELSE '{}' END,
        work = CASE WHEN ${keepRun} THEN work ELSE excluded.work END,
        run_created_at = CASE WHEN expires_at <= @now THEN @now ELSE created_at END,
        replays = 0
      WHERE expires_at <= @now OR (state = 'released' AND fingerprint = excluded.fingerprint)
      RETURNING token, run_id, steps`,
    takeOverLapsed: `UPDATE ${t} SET token = token + 1, lease_until = @leaseUntil,
        expires_at = max(expires_at, @expiresAt),
        run_id = CASE WHEN ${keepRun} THEN run_id ELSE @runId END,
        steps = CASE WHEN ${keepRun} THEN steps ELSE '{}' END,
        work = CASE WHEN ${keepRun} THEN work ELSE @work END,
        run_created_at = created_at
      WHERE id = @id AND state = 'in-flight' AND lease_until <= @now AND expires_at > @now
        AND fingerprint = @fingerprint
      RETURNING token, run_id, steps`,
    select: `SELECT * FROM ${t} WHERE id = ?`,
    renew: `UPDATE ${t} SET lease_until = @leaseUntil WHERE ${held}`,
    complete: `UPDATE ${t} SET state = 'completed', lease_until = 0, completed_at = @now,
        expires_at = @expiresAt, status = @status, headers = @headers, body = @body, kept = @kept
      WHERE ${held}`,
    release: `UPDATE ${t} SET state = 'released', lease_until = 0 WHERE ${held}`,
    get: `SELECT * FROM ${t} WHERE id = ? AND expires_at > ?`,
    delete: `DELETE FROM ${t} WHERE id = ?`,
    list: `SELECT * FROM ${t}
      WHERE expires_at > @now AND (@state IS NULL OR state = @state) AND (@since IS NULL OR created_at >= @since)
        AND (@afterCreated IS NULL OR created_at < @afterCreated OR (created_at = @afterCreated AND id < @afterId))
      ORDER BY created_at DESC, id DESC LIMIT @limit`,
    // One statement: adds the step, or replaces it while it is only `started`; a full run keeps its steps, and the
    // RETURNING flag (is the step there now?) tells that apart. JSON merge patches key the object by name, so no
    // name is ever parsed as a JSON path; the first patch drops a `started` entry, the second writes the new one.
    saveStep: `UPDATE ${t} SET steps = CASE
        WHEN (SELECT json_extract(s.value, '$.state') FROM json_each(${t}.steps) AS s WHERE s.key = @name) <> 'started'
          THEN steps
        WHEN NOT EXISTS (SELECT 1 FROM json_each(${t}.steps) AS s WHERE s.key = @name)
          AND (SELECT count(*) FROM json_each(${t}.steps)) >= ${MAX_STEPS} THEN steps
        ELSE json_patch(json_patch(steps, json_object(@name, NULL)), json_object(@name, json(@step)))
      END
      WHERE ${held}
      RETURNING EXISTS (SELECT 1 FROM json_each(${t}.steps) AS s WHERE s.key = @name) AS saved`,
    // Counts only live completed records: never an in-flight one, never a new row, and the expiry stays.
    countReplays: `UPDATE ${t} SET replays = replays + @count
      WHERE id = @id AND state = 'completed' AND expires_at > @now`,
    purge: `DELETE FROM ${t} WHERE rowid IN
      (SELECT rowid FROM ${t} WHERE expires_at <= @now LIMIT @limit)`,
    aggregate: aggregateSql(t, "@now", "@soon"),
  };
}

export function toRecord(row: Row): IdempotencyRecord {
  const record: IdempotencyRecord = {
    id: row.id,
    state: row.state,
    fingerprint: row.fingerprint,
    token: row.token,
    createdAt: row.created_at,
    leaseUntil: row.lease_until,
    expiresAt: row.expires_at,
    meta: JSON.parse(row.meta),
    version: row.version,
    replays: row.replays ?? 0,
  };
  // A stale run (see STEP_COLUMNS) is not this record's: its next claim starts a new one.
  const current = row.run_id !== null && row.run_created_at === row.created_at;
  if (current) record.runId = row.run_id!;
  record.steps = current ? stepsFromJson(row.steps) : [];
  if (current && row.work !== null) record.work = JSON.parse(row.work);
  if (row.completed_at !== null) record.completedAt = row.completed_at;
  if (row.status !== null) {
    const headers = JSON.parse(row.headers ?? "[]");
    // better-sqlite3 reads a BLOB as a Buffer, node:sqlite as a Uint8Array: both drivers answer a Buffer (no copy).
    // Where there is no Buffer (a Durable Object on workerd without Node.js modules), the bytes as they came.
    const bytes = row.body ?? new Uint8Array();
    const body = typeof Buffer === "function" ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes;
    record.response = { status: row.status, headers, body, kept: row.kept === 1 };
  }
  return record;
}

/** A step as the `steps` column keeps it: the name is the key. */
export function stepJson(step: StepRecord): string {
  return JSON.stringify({
    seq: step.seq,
    state: step.state,
    ...(step.value === undefined ? {} : { value: step.value }),
  });
}
