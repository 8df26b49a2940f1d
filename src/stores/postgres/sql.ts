import { randomUUID } from "node:crypto";
import { StoreError } from "../../core/errors.js";
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
import { decodeCursor, pageOf } from "../shared/keyset-cursor.js";
import { type AggregateRow, aggregateSql, toAggregate } from "../shared/sql-aggregate.js";
import { stepsFromJson } from "../shared/step-record.js";

// The SQL the PostgreSQL store runs, one function per operation. Each takes the `query` it runs on, so the same
// statements can run on a pool (one implicit transaction each) or on a client inside the caller's transaction.

/** Runs one statement: `(statement) => pool.query(statement)`, or the same on a `PoolClient` in a transaction. */
export type Query = (statement: { name: string; text: string; values: unknown[] }) => Promise<{
  rows: Row[];
  rowCount: number | null;
}>;

/** A table name, optionally schema-qualified; short enough that the index names derived from it stay unique. */
export const TABLE = /^(?:[A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,49}$/;

/**
 * The current time in one statement. `statement_timestamp()` rather than `now()`: it stays right when a statement
 * runs late in a long transaction, and unlike `clock_timestamp()` it is stable, so the `expires_at` index serves it.
 * Truncated to milliseconds, the unit of records and list cursors.
 */
const NOW = "date_trunc('milliseconds', statement_timestamp())";
const after = (param: string) => `${NOW} + ${param}::float8 * interval '1 millisecond'`;
const ms = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;
const HELD = `id = $1 AND token = $2 AND state = 'in-flight' AND expires_at > ${NOW}`;

/** The most steps one run may record; the engine enforces its own, lower, limit first. */
export const MAX_STEPS = 1_000;

export function quoteTable(table: string): string {
  if (typeof table !== "string" || !TABLE.test(table)) {
    throw new TypeError(
      `Expected \`table\` to be a name of letters, digits and underscores, optionally "schema.table", got ${JSON.stringify(table)}`,
    );
  }
  return table
    .split(".")
    .map((part) => `"${part}"`)
    .join(".");
}

/**
 * The schema the store's `migrate()` creates, for teams that run their own migrations. Safe to run again and on a
 * table an earlier version created: it adds what is missing, and checks the catalog first, because `CREATE INDEX IF
 * NOT EXISTS` and `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` lock the table even when there is nothing to do, which
 * would queue all traffic behind any open transaction on it at each boot. Adding a nullable column, or one with a
 * constant default, rewrites nothing (PostgreSQL 11+).
 */
export function postgresSchema(table = "oncely_records"): string {
  const t = quoteTable(table);
  const parts = table.split(".");
  const name = parts.at(-1);
  const index = (suffix: string) => [...parts.slice(0, -1), `${name}_${suffix}`].map((p) => `"${p}"`).join(".");
  return `CREATE TABLE IF NOT EXISTS ${t} (
  id TEXT COLLATE "C" PRIMARY KEY,
  state TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  token BIGINT NOT NULL,
  claim_id UUID NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  lease_until TIMESTAMPTZ,
  expires_at TIMESTAMPTZ NOT NULL,
  completed_at TIMESTAMPTZ,
  status INTEGER,
  headers JSONB,
  body BYTEA,
  kept BOOLEAN,
  meta JSONB NOT NULL,
  version INTEGER NOT NULL,
  run_id TEXT,
  steps JSONB NOT NULL DEFAULT '{}',
  work JSONB,
  run_created_at TIMESTAMPTZ,
  replays INTEGER NOT NULL DEFAULT 0
);
DO $oncely$ BEGIN
  IF to_regclass('${index("expires_at")}') IS NULL THEN
    CREATE INDEX IF NOT EXISTS "${name}_expires_at" ON ${t} (expires_at);
  END IF;
  IF to_regclass('${index("created_at")}') IS NULL THEN
    CREATE INDEX IF NOT EXISTS "${name}_created_at" ON ${t} (created_at, id);
  END IF;
  -- Tables created before steps existed.
  IF (SELECT count(*) FROM pg_attribute WHERE attrelid = '${t}'::regclass AND NOT attisdropped
      AND attname IN ('run_id', 'steps', 'work', 'run_created_at')) < 4 THEN
    ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS run_id TEXT, ADD COLUMN IF NOT EXISTS steps JSONB NOT NULL DEFAULT '{}',
      ADD COLUMN IF NOT EXISTS work JSONB, ADD COLUMN IF NOT EXISTS run_created_at TIMESTAMPTZ;
  END IF;
  -- Tables created before replay counts existed.
  IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = '${t}'::regclass AND NOT attisdropped
      AND attname = 'replays') THEN
    ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS replays INTEGER NOT NULL DEFAULT 0;
  END IF;
END $oncely$;`;
}

export interface Row {
  id: string;
  state: IdempotencyRecord["state"];
  fingerprint: string;
  /** BIGINT: a string unless the pool parses it. */
  token: string | number;
  created_at: number;
  lease_until: number | null;
  expires_at: number;
  completed_at: number | null;
  status: number | null;
  headers: string | null;
  body: Buffer | null;
  kept: boolean | null;
  meta: string;
  version: number;
  run_id: string | null;
  /** JSON text of an object of the run's steps by name. */
  steps: string | null;
  work: string | null;
  /** The `created_at` of the record the run belongs to (see the claim). */
  run_created_at: number | null;
  replays: number;
  claimed?: boolean;
  recovered?: boolean;
  /** Kept only because the snapshot was stale, though this claim could take it: run the claim again. */
  stale?: boolean;
}

const columns = (a: string) =>
  `${a}.id, ${a}.state, ${a}.fingerprint, ${a}.token, ${a}.claim_id, ${ms(`${a}.created_at`)} AS created_at,
  ${ms(`${a}.lease_until`)} AS lease_until, ${ms(`${a}.expires_at`)} AS expires_at,
  ${ms(`${a}.completed_at`)} AS completed_at, ${a}.status, ${a}.headers::text AS headers, ${a}.body, ${a}.kept,
  ${a}.meta::text AS meta, ${a}.version, ${a}.run_id, ${a}.steps::text AS steps, ${a}.work::text AS work,
  ${ms(`${a}.run_created_at`)} AS run_created_at, ${a}.replays`;

/**
 * The claim, in one statement. The upsert takes the row over when it is expired (`new`: a fresh record), or released
 * or lapsed with the same fingerprint (`take`). Otherwise the caller needs the row as it stands, and READ COMMITTED
 * makes that subtle: the upsert waits for and locks the newest version of the row, but the `prior` read sees the
 * statement's snapshot, where a row inserted or changed by a transaction that committed meanwhile is missing or
 * stale. So when the locked version is not the one in the snapshot (the `ctid` check), the upsert does a no-op
 * update just to return it (`keep`); a takeover happens only when the snapshot holds exactly the locked version, so
 * `prior` is then its true predecessor (which tells a recovery from the takeover of a released record). A per-call
 * `claim_id` tells this call's claim from a no-op. A claim that inserted (`xmax` 0: the row it conflicted with was
 * deleted while it waited, so `prior` shows a row that is gone) recovered nothing. A `keep` of a row this claim could
 * take (released, lapsed or expired meanwhile: `stale`) is no answer; the caller runs the statement again, on a
 * fresh snapshot.
 */
function claimSql(t: string): string {
  // Inside DO UPDATE, `excluded.created_at` is the statement's clock.
  const now = "excluded.created_at";
  const fresh = `EXISTS (SELECT FROM ${t} AS s WHERE s.ctid = r.ctid)`;
  const expired = `r.expires_at <= ${now}`;
  const takeable = `r.fingerprint = excluded.fingerprint AND (r.state = 'released' OR r.lease_until <= ${now})`;
  const current = "r.run_id IS NOT NULL AND r.run_created_at = r.created_at";
  // Each column: its value on `new`, and on `take` when that differs; `keep` leaves every column as it is.
  const set: [column: string, onNew: string, onTake?: string][] = [
    ["state", "'in-flight'"],
    ["fingerprint", "excluded.fingerprint"],
    ["token", "greatest(excluded.token, r.token + 1)", "r.token + 1"],
    ["claim_id", "excluded.claim_id"],
    ["created_at", "excluded.created_at", "r.created_at"],
    ["lease_until", "excluded.lease_until"],
    ["expires_at", "excluded.expires_at", "greatest(r.expires_at, excluded.expires_at)"],
    ...["completed_at", "status", "headers", "body", "kept", "meta", "version"].map((c): [string, string, string] => [
      c,
      c === "meta" || c === "version" ? `excluded.${c}` : "NULL",
      `r.${c}`,
    ]),
    // A takeover keeps the run; a record made afresh after expiry starts a new one. So does the takeover of a
    // record written before steps existed, or of a stale run: an earlier oncely, running beside this one in a
    // rolling deploy, replaces an expired record without touching these columns, and the run's `run_created_at`
    // is then not its record's `created_at`.
    ["run_id", "excluded.run_id", `CASE WHEN ${current} THEN r.run_id ELSE excluded.run_id END`],
    ["steps", "excluded.steps", `CASE WHEN ${current} THEN r.steps ELSE excluded.steps END`],
    ["work", "excluded.work", `CASE WHEN ${current} THEN r.work ELSE excluded.work END`],
    ["run_created_at", "excluded.created_at", "r.created_at"],
    // Only a completed record is replayed, and one is only replaced once expired: a takeover has nothing to keep.
    ["replays", "0", "r.replays"],
  ];
  const values = set.map(([c, onNew, onTake = onNew]) =>
    onTake === `r.${c}`
      ? `CASE d.mode WHEN 'new' THEN ${onNew} ELSE r.${c} END`
      : onTake === onNew
        ? `CASE d.mode WHEN 'keep' THEN r.${c} ELSE ${onNew} END`
        : `CASE d.mode WHEN 'new' THEN ${onNew} WHEN 'take' THEN ${onTake} ELSE r.${c} END`,
  );
  return `WITH prior AS (SELECT * FROM ${t} WHERE id = $1),
claim AS (
  INSERT INTO ${t} AS r (id, state, fingerprint, token, claim_id, created_at, lease_until, expires_at, meta, version,
    run_id, steps, work, run_created_at)
  VALUES ($1, 'in-flight', $2, (extract(epoch FROM ${NOW}) * 1000)::bigint, $3, ${NOW}, ${after("$4")},
    ${after("$5")}, $6, $7, $8, '{}', $9::jsonb, ${NOW})
  ON CONFLICT (id) DO UPDATE SET (${set.map(([c]) => c).join(", ")}) = (SELECT
    ${values.join(",\n    ")}
    FROM (SELECT CASE WHEN NOT ${fresh} THEN 'keep' WHEN ${expired} THEN 'new' WHEN ${takeable} THEN 'take'
      ELSE 'keep' END AS mode) AS d)
  WHERE NOT ${fresh} OR ${expired} OR (${takeable})
  RETURNING ${columns("r")}, r.xmax::text <> '0' AS updated,
    r.expires_at <= ${NOW} OR (r.fingerprint = $2 AND (r.state = 'released' OR r.lease_until <= ${NOW})) AS stale
)
SELECT c.*, c.claim_id = $3 AS claimed,
  coalesce(c.claim_id = $3 AND c.updated AND p.state = 'in-flight' AND p.expires_at > ${NOW}, false) AS recovered
FROM claim AS c LEFT JOIN prior AS p ON true
UNION ALL
SELECT ${columns("p")}, false, false, false, false FROM prior AS p WHERE NOT EXISTS (SELECT FROM claim)`;
}

/** The store's operations on `table`, each one statement run through the `query` it is given. */
export function postgresOperations(table: string) {
  const t = quoteTable(table);
  const named = (operation: string, text: string) => ({ name: `oncely:${table}:${operation}`, text });
  const sql = {
    claim: named("claim", claimSql(t)),
    renew: named("renew", `UPDATE ${t} SET lease_until = ${after("$3")} WHERE ${HELD}`),
    complete: named(
      "complete",
      `UPDATE ${t} SET state = 'completed', lease_until = NULL, completed_at = ${NOW}, expires_at = ${after("$3")},
        status = $4, headers = $5, body = $6, kept = $7
      WHERE ${HELD}`,
    ),
    release: named("release", `UPDATE ${t} SET state = 'released', lease_until = NULL WHERE ${HELD}`),
    get: named("get", `SELECT ${columns("x")} FROM ${t} AS x WHERE id = $1 AND expires_at > ${NOW}`),
    delete: named("delete", `DELETE FROM ${t} WHERE id = $1`),
    list: named(
      "list",
      `SELECT ${columns("x")} FROM ${t} AS x
      WHERE expires_at > ${NOW} AND ($1::text IS NULL OR state = $1)
        AND ($2::bigint IS NULL OR created_at >= timestamptz 'epoch' + $2 * interval '1 millisecond')
        AND ($3::bigint IS NULL OR (created_at, id) < (timestamptz 'epoch' + $3 * interval '1 millisecond', $4::text))
      ORDER BY created_at DESC, id DESC LIMIT $5`,
    ),
    // One statement, fenced like `complete`: adds the step, or replaces it while it is only `started` (`||` replaces
    // a top-level key whole). A full run keeps its steps, and `saved` (is the step there now?) tells that apart. A
    // concurrent save by the same holder waits for the row lock, then re-evaluates on the row it left: no lost update.
    saveStep: named(
      "saveStep",
      `UPDATE ${t} SET steps = CASE
          WHEN coalesce(steps -> $3::text ->> 'state', 'started') <> 'started' THEN steps
          WHEN NOT steps ? $3::text AND (SELECT count(*) FROM jsonb_object_keys(steps)) >= ${MAX_STEPS} THEN steps
          ELSE steps || jsonb_build_object($3::text, $4::jsonb)
        END
      WHERE ${HELD}
      RETURNING steps ? $3::text AS saved`,
    ),
    // One statement per batch: the ids and counts arrive as two arrays. Live completed records only, so an in-flight
    // record is never touched, no row is created, and no expiry moves.
    countReplays: named(
      "countReplays",
      `UPDATE ${t} AS r SET replays = r.replays + v.n
      FROM unnest($1::text[], $2::int[]) AS v(id, n)
      WHERE r.id = v.id COLLATE "C" AND r.state = 'completed' AND r.expires_at > ${NOW}`,
    ),
    // SKIP LOCKED: concurrent purges split the work, and a row a claim is taking over is left to it.
    purge: named(
      "purge",
      `DELETE FROM ${t} WHERE id IN
        (SELECT id FROM ${t} WHERE expires_at <= ${NOW} LIMIT $1 FOR UPDATE SKIP LOCKED)`,
    ),
    aggregate: named("aggregate", aggregateSql(t, NOW, after("$1"), ms("created_at"))),
  };

  return {
    async claim(query: Query, id: string, fingerprint: string, options: ClaimOptions): Promise<ClaimResult> {
      const meta = JSON.stringify(options.meta);
      const work = options.work ? JSON.stringify({ name: options.work.name, input: options.work.input }) : null;
      const runId = options.runId ?? randomUUID();
      const values = [
        id,
        fingerprint,
        randomUUID(),
        options.lease,
        options.ttl,
        meta,
        RECORD_FORMAT_VERSION,
        runId,
        work,
      ];
      let row: Row | undefined;
      // A row released, lapsed or expired while this claim waited for it is kept, not taken (see claimSql): the
      // next statement's snapshot sees it as it is. Under endless churn the last answer stands (in-flight: retry).
      for (let attempt = 0; attempt < 3 && (row === undefined || row.stale); attempt++) {
        row = (await query({ ...sql.claim, values })).rows[0];
        if (!row) throw new Error("the claim statement returned no row");
      }
      if (!row) throw new Error("the claim statement returned no row");
      if (row.claimed) {
        const recovered = row.recovered === true;
        return {
          status: "claimed",
          token: Number(row.token),
          recovered,
          runId: row.run_id ?? runId,
          steps: stepsFromJson(row.steps),
        };
      }
      const record = toRecord(row);
      return record.state === "completed" ? { status: "completed", record } : { status: "in-flight", record };
    },
    async renew(query: Query, id: string, token: number, lease: number): Promise<boolean> {
      return (await query({ ...sql.renew, values: [id, token, lease] })).rowCount === 1;
    },
    async complete(query: Query, id: string, token: number, response: StoredResponse, ttl: number): Promise<boolean> {
      const { status, headers, body, kept } = response;
      const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      const values = [id, token, ttl, status, JSON.stringify(headers), bytes, kept];
      return (await query({ ...sql.complete, values })).rowCount === 1;
    },
    async release(query: Query, id: string, token: number): Promise<boolean> {
      return (await query({ ...sql.release, values: [id, token] })).rowCount === 1;
    },
    /**
     * Records `step` if `token` holds the claim. Resolves false when it does not; rejects when the run is full.
     */
    async saveStep(query: Query, id: string, token: number, step: StepRecord): Promise<boolean> {
      const body = { seq: step.seq, state: step.state, ...(step.value === undefined ? {} : { value: step.value }) };
      const { rows } = await query({ ...sql.saveStep, values: [id, token, step.name, JSON.stringify(body)] });
      const row = rows[0] as { saved?: boolean } | undefined;
      if (!row) return false;
      if (!row.saved) throw new StoreError("postgres", "saveStep", `failed: the run holds ${MAX_STEPS} steps already`);
      return true;
    },
    async countReplays(query: Query, counts: ReadonlyMap<string, number>): Promise<void> {
      await query({ ...sql.countReplays, values: [[...counts.keys()], [...counts.values()]] });
    },
    async get(query: Query, id: string): Promise<IdempotencyRecord | undefined> {
      const row = (await query({ ...sql.get, values: [id] })).rows[0];
      return row && toRecord(row);
    },
    async delete(query: Query, id: string): Promise<boolean> {
      return (await query({ ...sql.delete, values: [id] })).rowCount === 1;
    },
    async list(query: Query, options: ListOptions = {}): Promise<ListPage> {
      const limit = options.limit ?? 100;
      const [afterCreated, afterId] = options.cursor ? decodeCursor(options.cursor) : [null, null];
      const values = [options.state ?? null, options.since ?? null, afterCreated, afterId, limit + 1];
      const { rows } = await query({ ...sql.list, values });
      return pageOf(rows, limit, toRecord);
    },
    async purgeExpired(query: Query, options: { limit?: number } = {}): Promise<number> {
      // LIMIT NULL is no limit.
      return (await query({ ...sql.purge, values: [options.limit ?? null] })).rowCount ?? 0;
    },
    async aggregate(query: Query, options: AggregateOptions = {}): Promise<StoreAggregate> {
      const { rows } = await query({ ...sql.aggregate, values: [options.expiringWithin ?? 3_600_000] });
      return toAggregate(rows[0] as unknown as AggregateRow);
    },
  };
}

export type PostgresOperations = ReturnType<typeof postgresOperations>;

function toRecord(row: Row): IdempotencyRecord {
  const record: IdempotencyRecord = {
    id: row.id,
    state: row.state,
    fingerprint: row.fingerprint,
    token: Number(row.token),
    createdAt: Number(row.created_at),
    leaseUntil: Number(row.lease_until ?? 0),
    expiresAt: Number(row.expires_at),
    meta: JSON.parse(row.meta),
    version: row.version,
    replays: Number(row.replays ?? 0),
  };
  // A stale run (see the claim) is not this record's: its next claim starts a new one.
  const current = row.run_id !== null && row.run_created_at !== null && Number(row.run_created_at) === record.createdAt;
  if (current) record.runId = row.run_id!;
  record.steps = current ? stepsFromJson(row.steps) : [];
  if (current && row.work !== null) record.work = JSON.parse(row.work);
  if (row.completed_at !== null) record.completedAt = Number(row.completed_at);
  if (row.status !== null) {
    const headers = JSON.parse(row.headers ?? "[]");
    record.response = { status: row.status, headers, body: row.body ?? new Uint8Array(), kept: row.kept === true };
  }
  return record;
}
