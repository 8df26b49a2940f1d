import { randomUUID } from "node:crypto";
import {
  type AggregateOptions,
  type ClaimOptions,
  type ClaimResult,
  type IdempotencyRecord,
  type ListOptions,
  type ListPage,
  RECORD_FORMAT_VERSION,
  type StepRecord,
  type StoreAggregate,
  type StoredResponse,
} from "../../core/store.js";
import { decodeCursor, encodeCursor } from "../shared/keyset-cursor.js";
import { type AggregateRow, aggregateSql, toAggregate } from "../shared/sql-aggregate.js";
import { MAX_STORED_STEPS, tooManySteps } from "../shared/step-record.js";

// The SQL the MySQL/MariaDB store runs, one function per operation, each run through the `execute` it is given.

export type Dialect = "mariadb" | "mysql";

/** Runs one statement with `:name` placeholders; resolves to mysql2's result (rows, or a ResultSetHeader). */
export type Execute = (
  sql: string,
  values: Record<string, string | number | boolean | Buffer | null>,
) => Promise<unknown>;

/** What mysql2 resolves for an INSERT: how many rows it changed, and the id the OK packet reports. */
interface UpsertResult {
  affectedRows: number;
  /** A string where the pool sets `bigNumberStrings`. */
  insertId: number | string;
}

export const TABLE = /^(?:[A-Za-z_][A-Za-z0-9_]{0,63}\.)?[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * The server's clock in epoch ms, fixed for the statement. `UTC_TIMESTAMP` with `TIMESTAMPDIFF` does not depend on
 * the session time zone, where `UNIX_TIMESTAMP(NOW(3))` is ambiguous in the hour a DST change repeats.
 */
export const NOW = "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(3)) DIV 1000)";
export const HELD = `id = :id AND token = :token AND state = 'in-flight' AND expires_at > ${NOW}`;
const COLUMNS =
  "id, state, fingerprint, token, claim_id, recovered, created_at, lease_until, expires_at, completed_at, status, " +
  "headers, body, kept, meta, version, run_id, steps, work, run_created_at, replays";

/**
 * The columns steps and replay counts added, as `ADD COLUMN` clauses: `migrate()` adds the missing ones to a table an
 * earlier oncely created. `steps` is a JSON object (name -> { seq, state, value }) kept as text, so MySQL 8 and
 * MariaDB read it alike. `replays` counts the replays of a completed record (`countReplays`).
 */
export const STEP_COLUMNS = {
  run_id: "run_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL",
  steps: "steps MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL",
  work: "work MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL",
  run_created_at: "run_created_at BIGINT NULL",
  replays: "replays INT NOT NULL DEFAULT 0",
} as const;

export function quoteTable(table: string): string {
  if (typeof table !== "string" || !TABLE.test(table)) {
    throw new TypeError(
      `Expected \`table\` to be a name of letters, digits and underscores, optionally "database.table", got ${JSON.stringify(table)}`,
    );
  }
  return table
    .split(".")
    .map((part) => `\`${part}\``)
    .join(".");
}

/** The schema the store's `migrate()` creates, for teams that run their own migrations. MySQL 8 and MariaDB. */
export function mysqlSchema(table = "oncely_records"): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteTable(table)} (
  id VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  state VARCHAR(16) CHARACTER SET ascii NOT NULL,
  fingerprint VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  token BIGINT NOT NULL,
  claim_id CHAR(36) CHARACTER SET ascii NOT NULL,
  recovered TINYINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  lease_until BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  completed_at BIGINT NULL,
  status SMALLINT NULL,
  headers MEDIUMTEXT CHARACTER SET utf8mb4 NULL,
  body LONGBLOB NULL,
  kept TINYINT NULL,
  meta TEXT CHARACTER SET utf8mb4 NOT NULL,
  version INT NOT NULL,
  ${STEP_COLUMNS.run_id},
  ${STEP_COLUMNS.steps},
  ${STEP_COLUMNS.work},
  ${STEP_COLUMNS.run_created_at},
  ${STEP_COLUMNS.replays},
  PRIMARY KEY (id),
  INDEX expires_at (expires_at),
  INDEX created_at (created_at, id)
) ENGINE=InnoDB`;
}

export interface Row {
  id: string;
  state: IdempotencyRecord["state"];
  fingerprint: string;
  /** BIGINT columns: numbers, or strings where the pool sets `bigNumberStrings`. */
  token: number | string;
  claim_id: string;
  recovered: number;
  created_at: number | string;
  lease_until: number | string;
  expires_at: number | string;
  completed_at: number | string | null;
  status: number | null;
  headers: string | null;
  body: Buffer | null;
  kept: number | null;
  meta: string;
  version: number;
  /** The server's clock when the row was read (the MySQL 8 claim's read only). */
  db_now?: number | string;
  /** Absent in rows an earlier oncely wrote, until a claim takes them over. */
  run_id: string | null;
  /** JSON: `{ "<name>": { "seq": 0, "state": "done", "value": "<JSON text>" | null }, ... }`. */
  steps: string | null;
  work: string | null;
  /** The `created_at` of the record the run belongs to (see the claim's upsert). */
  run_created_at: number | string | null;
  replays: number | string;
}

/**
 * The claim's upsert. It creates the record, or on a duplicate key takes it over when it is expired (a fresh record),
 * or released or lapsed with the same fingerprint (token + 1). Assignments run left to right and each sees the ones
 * before it, so the decision is made once, first, on the old row: `claim_id` becomes this call's nonce only on a
 * takeover, and every later assignment reads the decision back from it. `expires_at` goes last, because the others
 * need its old value to tell an expired record (replaced) from a live one (taken over). When nothing is taken over,
 * no column changes. A takeover keeps the run id, steps and work; a fresh record starts a new run. The run also
 * remembers the `created_at` of its record: an earlier oncely, running beside this one in a rolling deploy, replaces
 * an expired record without touching these columns, and a run whose `created_at` is not its record's is then stale
 * (and so is a record without a run id): the takeover starts a new run instead of resuming another's steps. A record
 * taken over has not been replayed (only a completed one is, and a completed one is only replaced once expired).
 *
 * MySQL 8 has no `RETURNING`, so there the statement reports the token it granted in its own answer: `LAST_INSERT_ID
 * (expr)` makes the OK packet's insert id the last `expr` evaluated. The inserted row's token sets it, a duplicate
 * key resets it to 0, and a takeover sets it to the new token: a new record is then claimed in one round trip, and
 * only a claim that found a record reads it.
 */
function upsertSql(t: string, dialect: Dialect): string {
  const reportToken = (token: string) => (dialect === "mysql" ? `LAST_INSERT_ID(${token})` : token);
  const resetReport = dialect === "mysql" ? " + LAST_INSERT_ID(0)" : "";
  const taken = "claim_id = :nonce";
  const fresh = `${taken} AND expires_at <= ${NOW}`;
  const takeable = `expires_at <= ${NOW} OR (fingerprint = :fingerprint AND (state = 'released'
      OR (state = 'in-flight' AND lease_until <= ${NOW})))`;
  // Read after `created_at` is assigned, and before `run_created_at` is.
  const newRun = `${fresh} OR (${taken} AND (run_id IS NULL OR NOT (run_created_at <=> created_at)))`;
  return `INSERT INTO ${t} (id, state, fingerprint, token, claim_id, created_at, lease_until, expires_at, meta, version,
      run_id, steps, work, run_created_at)
  VALUES (:id, 'in-flight', :fingerprint, ${reportToken(NOW)}, :nonce, ${NOW}, ${NOW} + :lease, ${NOW} + :ttl, :meta,
      :version, :runId, NULL, :work, ${NOW})
  ON DUPLICATE KEY UPDATE
    claim_id = IF(${takeable}, :nonce, claim_id),
    recovered = IF(${taken}, state = 'in-flight' AND expires_at > ${NOW}, recovered),
    replays = IF(${taken}, 0, replays)${resetReport},
    token = IF(${taken}, ${reportToken(`IF(expires_at <= ${NOW}, GREATEST(${NOW}, token + 1), token + 1)`)}, token),
    created_at = IF(${fresh}, ${NOW}, created_at),
    meta = IF(${fresh}, :meta, meta),
    version = IF(${fresh}, :version, version),
    run_id = IF(${newRun}, :runId, run_id),
    steps = IF(${newRun}, NULL, steps),
    work = IF(${newRun}, :work, work),
    run_created_at = IF(${newRun}, created_at, run_created_at),
    fingerprint = IF(${taken}, :fingerprint, fingerprint),
    completed_at = IF(${taken}, NULL, completed_at),
    status = IF(${taken}, NULL, status),
    headers = IF(${taken}, NULL, headers),
    body = IF(${taken}, NULL, body),
    kept = IF(${taken}, NULL, kept),
    state = IF(${taken}, 'in-flight', state),
    lease_until = IF(${taken}, ${NOW} + :lease, lease_until),
    expires_at = IF(${taken}, IF(expires_at <= ${NOW}, ${NOW} + :ttl, GREATEST(expires_at, ${NOW} + :ttl)), expires_at)`;
}

/** The store's operations on `table` for `dialect`, each one statement (MySQL 8: a claim that finds a record, two). */
export function mysqlOperations(table: string, dialect: Dialect) {
  const t = quoteTable(table);
  const upsert = upsertSql(t, dialect);
  const sql = {
    // MariaDB returns the row as the upsert left it (inserted, taken over, or untouched). MySQL 8 has no RETURNING.
    claim: dialect === "mariadb" ? `${upsert}\n  RETURNING ${COLUMNS}` : upsert,
    // With the server's clock, to tell whether a record changed after the upsert is claimable now.
    select: `SELECT ${COLUMNS}, ${NOW} AS db_now FROM ${t} WHERE id = :id`,
    // Moves the lease forward by at least 1 ms, so a matched row always counts as changed: `affectedRows` is then
    // right whether or not the connection reports found rows.
    renew: `UPDATE ${t} SET lease_until = GREATEST(${NOW} + :lease, lease_until + 1) WHERE ${HELD}`,
    complete: `UPDATE ${t} SET state = 'completed', lease_until = 0, completed_at = ${NOW}, expires_at = ${NOW} + :ttl,
      status = :status, headers = :headers, body = :body, kept = :kept
      WHERE ${HELD}`,
    release: `UPDATE ${t} SET state = 'released', lease_until = 0 WHERE ${HELD}`,
    // Adds the step, or replaces a started one, in one statement: the row lock serialises a holder's concurrent
    // steps, and each JSON_SET works on the latest document, so none is lost.
    saveStep: `UPDATE ${t}
      SET steps = JSON_SET(COALESCE(steps, '{}'), :path,
        JSON_OBJECT('seq', CAST(:seq AS SIGNED), 'state', :state, 'value', :value))
      WHERE ${HELD}
        AND (JSON_EXTRACT(steps, :statePath) IS NULL OR JSON_UNQUOTE(JSON_EXTRACT(steps, :statePath)) = 'started')
        AND (JSON_EXTRACT(steps, :path) IS NOT NULL OR COALESCE(JSON_LENGTH(steps), 0) < :max)`,
    // Why a step was not written: only read after a refused saveStep.
    stepRefusal: `SELECT JSON_UNQUOTE(JSON_EXTRACT(steps, :statePath)) AS step_state,
        COALESCE(JSON_LENGTH(steps), 0) AS count
      FROM ${t} WHERE ${HELD}`,
    get: `SELECT ${COLUMNS} FROM ${t} WHERE id = :id AND expires_at > ${NOW}`,
    delete: `DELETE FROM ${t} WHERE id = :id`,
    list: `SELECT ${COLUMNS} FROM ${t}
      WHERE expires_at > ${NOW} AND (:state IS NULL OR state = :state) AND (:since IS NULL OR created_at >= :since)
        AND (:afterCreated IS NULL OR created_at < :afterCreated OR (created_at = :afterCreated AND id < :afterId))
      ORDER BY created_at DESC, id DESC LIMIT :limit`,
    purge: `DELETE FROM ${t} WHERE expires_at <= ${NOW} ORDER BY expires_at LIMIT :limit`,
    aggregate: aggregateSql(t, NOW, `${NOW} + :within`),
  };
  /** The replay-count UPDATE for `size` ids (a power of two: few distinct statements for the server to prepare). */
  const countReplaysSql = (size: number) => {
    const slots = Array.from({ length: size }, (_, i) => i);
    return `UPDATE ${t} SET replays = replays + CASE id ${slots.map((i) => `WHEN :i${i} THEN :n${i}`).join(" ")} ELSE 0 END
      WHERE id IN (${slots.map((i) => `:i${i}`).join(", ")}) AND state = 'completed' AND expires_at > ${NOW}`;
  };
  const affected = (result: unknown) => (result as { affectedRows: number }).affectedRows;
  const rows = (result: unknown) => result as Row[];

  return {
    /**
     * Adds the columns steps need to a table an earlier oncely created: MariaDB with `ADD COLUMN IF NOT EXISTS`,
     * MySQL 8 (which has no such clause) one column at a time, where a column a concurrent migration added is fine.
     */
    async addStepColumns(execute: Execute, query: (sql: string) => Promise<unknown>): Promise<void> {
      const [schema, name] = table.includes(".") ? table.split(".") : [null, table];
      const found = rows(
        await execute(
          `SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS
          WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :name`,
          { schema, name: name! },
        ),
      ) as unknown as { name: string }[];
      const present = new Set(found.map((column) => column.name.toLowerCase()));
      const missing = Object.entries(STEP_COLUMNS).filter(([column]) => !present.has(column));
      if (missing.length === 0) return;
      if (dialect === "mariadb") {
        await query(`ALTER TABLE ${t} ${missing.map(([, column]) => `ADD COLUMN IF NOT EXISTS ${column}`).join(", ")}`);
        return;
      }
      for (const [, column] of missing) {
        await query(`ALTER TABLE ${t} ADD COLUMN ${column}`).catch((error: { errno?: number }) => {
          if (error?.errno !== 1060) throw error; // ER_DUP_FIELDNAME: another process added it meanwhile.
        });
      }
    },
    /**
     * On MariaDB one statement, whose `RETURNING` hands back the row. On MySQL 8 the upsert reports the token it
     * granted (see `upsertSql`): a new record is claimed there and then; a claim that found a record reads it next.
     * A new record is never read back, so a delete that lands between the two statements cannot make the call
     * create it a second time (the delete would then have answered `true` for a record that was still there).
     */
    async claim(execute: Execute, id: string, fingerprint: string, options: ClaimOptions): Promise<ClaimResult> {
      const nonce = randomUUID();
      const runId = options.runId ?? randomUUID();
      const values = {
        id,
        fingerprint,
        nonce,
        runId,
        work: options.work ? JSON.stringify(options.work) : null,
        lease: Math.round(options.lease),
        ttl: Math.round(options.ttl),
        meta: JSON.stringify(options.meta),
        version: RECORD_FORMAT_VERSION,
      };
      for (let attempt = 1; ; attempt++) {
        let row: Row | undefined;
        let granted = 0;
        if (dialect === "mariadb") {
          row = rows(await execute(sql.claim, values))[0];
        } else {
          const { affectedRows, insertId } = (await execute(sql.claim, values)) as UpsertResult;
          granted = Number(insertId);
          // 1 row affected: inserted (or, where the connection counts found rows, a duplicate left as it was, which
          // reports no token).
          if (affectedRows === 1 && granted > 0)
            return { status: "claimed", token: granted, recovered: false, runId, steps: [] };
          row = rows(await execute(sql.select, { id }))[0];
        }
        if (row?.claim_id === nonce) {
          const claimed = { token: Number(row.token), recovered: row.recovered === 1 };
          return { status: "claimed", ...claimed, runId: row.run_id ?? runId, steps: stepsOf(row.steps) };
        }
        // MySQL 8 only, where the read is its own statement. This call took the record over, and before the read it
        // was deleted, or taken over again after a lease shorter than the gap: the claim stands, and its token is
        // fenced out from here on like that of any holder whose record moved on (whether it recovered a lapsed lease
        // is lost with the record: false).
        if (granted > 0) return { status: "claimed", token: granted, recovered: false, runId, steps: [] };
        // MySQL 8 only: the record this call found was deleted before the read (the upsert changed nothing, so it
        // can run again), or the holder's lease lapsed meanwhile (then it is this request's to claim). A few times
        // at most; under endless churn the last answer stands.
        if (attempt < 3 && (!row || claimableNow(row, fingerprint))) continue;
        if (!row) throw new Error("the record the claim found was deleted before it could be read, three times");
        const record = toRecord(row);
        return record.state === "completed" ? { status: "completed", record } : { status: "in-flight", record };
      }
    },
    async renew(execute: Execute, id: string, token: number, lease: number): Promise<boolean> {
      return affected(await execute(sql.renew, { id, token, lease: Math.round(lease) })) === 1;
    },
    async complete(execute: Execute, id: string, token: number, response: StoredResponse, ttl: number) {
      const { status, headers, body, kept } = response;
      const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      const values = { id, token, ttl: Math.round(ttl), status, headers: JSON.stringify(headers), body: bytes };
      return affected(await execute(sql.complete, { ...values, kept: kept ? 1 : 0 })) === 1;
    },
    async release(execute: Execute, id: string, token: number): Promise<boolean> {
      return affected(await execute(sql.release, { id, token })) === 1;
    },
    /**
     * One fenced UPDATE. A refused one is followed by a read that says why: the token no longer holds (false), the
     * step is already settled (true: the first result wins), or the run holds the most steps it may (StoreError).
     */
    async saveStep(execute: Execute, id: string, token: number, step: StepRecord): Promise<boolean> {
      // Names are checked (letters, digits, "_", ".", ":", "-"), so the quoted JSON path cannot be escaped.
      const path = `$."${step.name}"`;
      const statePath = `${path}.state`;
      const values = { id, token, path, statePath, seq: String(step.seq), state: step.state };
      const written = { ...values, value: step.value ?? null, max: MAX_STORED_STEPS };
      if (affected(await execute(sql.saveStep, written)) === 1) return true;
      const refusal = (await execute(sql.stepRefusal, { id, token, statePath })) as {
        step_state: string | null;
        count: number | string;
      }[];
      const held = refusal[0];
      if (!held) return false;
      // Held now means held then (a token never holds again once it lost): the step was settled, the run full,
      // or the write changed nothing (the same started step again, on a connection that counts changed rows).
      if (held.step_state === null && Number(held.count) >= MAX_STORED_STEPS) throw tooManySteps("mysql");
      return true;
    },
    /**
     * Adds replay counts to live completed records: one UPDATE per 256 ids, padded with NULL ids (which match
     * nothing) to a power of two, so at most nine statement texts are ever prepared. In-flight, missing and expired
     * records are left alone, and no expiry moves.
     */
    async countReplays(execute: Execute, counts: ReadonlyMap<string, number>): Promise<void> {
      const entries = [...counts];
      for (let start = 0; start < entries.length; start += MAX_COUNTS_PER_STATEMENT) {
        const chunk = entries.slice(start, start + MAX_COUNTS_PER_STATEMENT);
        const size = 2 ** Math.ceil(Math.log2(chunk.length));
        const values: Record<string, string | number | null> = {};
        for (let i = 0; i < size; i++) {
          values[`i${i}`] = chunk[i]?.[0] ?? null;
          values[`n${i}`] = chunk[i]?.[1] ?? 0;
        }
        await execute(countReplaysSql(size), values);
      }
    },
    async get(execute: Execute, id: string): Promise<IdempotencyRecord | undefined> {
      const row = rows(await execute(sql.get, { id }))[0];
      return row && toRecord(row);
    },
    async delete(execute: Execute, id: string): Promise<boolean> {
      return affected(await execute(sql.delete, { id })) === 1;
    },
    async list(execute: Execute, options: ListOptions = {}): Promise<ListPage> {
      const limit = options.limit ?? 100;
      const [afterCreated, afterId] = options.cursor ? decodeCursor(options.cursor) : [null, null];
      const values = { state: options.state ?? null, since: options.since ?? null, afterCreated, afterId };
      // LIMIT takes a string: mysql2 sends JS numbers as DOUBLE, which LIMIT refuses in prepared statements.
      const found = rows(await execute(sql.list, { ...values, limit: String(limit + 1) }));
      const records = found.slice(0, limit).map(toRecord);
      const last = records.at(-1);
      return found.length > limit && last ? { records, cursor: encodeCursor(last) } : { records };
    },
    async purgeExpired(execute: Execute, options: { limit?: number } = {}): Promise<number> {
      const limit = String(options.limit ?? Number.MAX_SAFE_INTEGER);
      return affected(await execute(sql.purge, { limit }));
    },
    async aggregate(execute: Execute, options: AggregateOptions = {}): Promise<StoreAggregate> {
      const found = await execute(sql.aggregate, { within: options.expiringWithin ?? 3_600_000 });
      return toAggregate((found as AggregateRow[])[0]!);
    },
  };
}

export type MySqlOperations = ReturnType<typeof mysqlOperations>;

/** Whether a claim with `fingerprint` would take `row` over at the server time the row was read. */
function claimableNow(row: Row, fingerprint: string): boolean {
  const now = Number(row.db_now);
  if (Number(row.expires_at) <= now) return true;
  if (row.fingerprint !== fingerprint) return false;
  return row.state === "released" || (row.state === "in-flight" && Number(row.lease_until) <= now);
}
/** Ids per replay-count UPDATE. */
const MAX_COUNTS_PER_STATEMENT = 256;

function toRecord(row: Row): IdempotencyRecord {
  const record: IdempotencyRecord = {
    id: row.id,
    state: row.state,
    fingerprint: row.fingerprint,
    token: Number(row.token),
    createdAt: Number(row.created_at),
    leaseUntil: Number(row.lease_until),
    expiresAt: Number(row.expires_at),
    meta: JSON.parse(row.meta),
    version: row.version,
    replays: Number(row.replays ?? 0),
  };
  if (row.run_id !== null) {
    record.runId = row.run_id;
    record.steps = stepsOf(row.steps);
  }
  if (row.work !== null) record.work = JSON.parse(row.work);
  if (row.completed_at !== null) record.completedAt = Number(row.completed_at);
  if (row.status !== null) {
    const headers = JSON.parse(row.headers ?? "[]");
    record.response = { status: row.status, headers, body: row.body ?? new Uint8Array(), kept: row.kept === 1 };
  }
  return record;
}

/** The steps of a row's `steps` JSON, in `seq` order. */
function stepsOf(json: string | null): StepRecord[] {
  if (json === null) return [];
  const stored = JSON.parse(json) as Record<string, { seq: number; state: StepRecord["state"]; value: string | null }>;
  return Object.entries(stored)
    .map(([name, { seq, state, value }]) => ({ name, seq, state, ...(value === null ? {} : { value }) }))
    .sort((a, b) => a.seq - b.seq);
}
