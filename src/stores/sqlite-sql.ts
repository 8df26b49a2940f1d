import type BetterSqlite3 from "better-sqlite3";
import type { IdempotencyRecord } from "../core/store.js";

// The SQL the SQLite store runs, and how its rows map back to records.

export const TABLE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** The schema the store creates on first use, for teams that run their own migrations. */
export function sqliteSchema(table = "oncely_records"): string {
  if (!TABLE.test(table)) {
    throw new TypeError(`Expected \`table\` to be letters, digits and underscores, got ${JSON.stringify(table)}`);
  }
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
  version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS "${table}_expires_at" ON "${table}" (expires_at);
CREATE INDEX IF NOT EXISTS "${table}_created_at" ON "${table}" (created_at, id);`;
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
  body: Buffer | null;
  kept: number | null;
  meta: string;
  version: number;
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
  | "purge";
export type Statements = Record<StatementName, BetterSqlite3.Statement<unknown[]>>;

/** Every statement the store runs, prepared once per connection. Each write carries its own guard. */
export function prepare(db: BetterSqlite3.Database, table: string): Statements {
  const t = `"${table}"`;
  const held = "id = @id AND token = @token AND state = 'in-flight' AND expires_at > @now";
  const statements: Statements = {
    // Inserts a fresh record, replaces an expired one, or takes over a released one with the same fingerprint.
    // SQLite evaluates every SET expression against the old row, so the CASEs see the state before the update.
    claim: db.prepare(`INSERT INTO ${t} (id, state, fingerprint, token, created_at, lease_until, expires_at, meta,
        version)
      VALUES (@id, 'in-flight', @fingerprint, @now, @now, @leaseUntil, @expiresAt, @meta, @version)
      ON CONFLICT (id) DO UPDATE SET
        state = 'in-flight',
        fingerprint = excluded.fingerprint,
        token = CASE WHEN expires_at <= @now THEN max(@now, token + 1) ELSE token + 1 END,
        created_at = CASE WHEN expires_at <= @now THEN @now ELSE created_at END,
        lease_until = excluded.lease_until,
        expires_at = CASE WHEN expires_at <= @now THEN excluded.expires_at ELSE max(expires_at, excluded.expires_at) END,
        completed_at = NULL, status = NULL, headers = NULL, body = NULL, kept = NULL,
        meta = CASE WHEN expires_at <= @now THEN excluded.meta ELSE meta END,
        version = CASE WHEN expires_at <= @now THEN excluded.version ELSE version END
      WHERE expires_at <= @now OR (state = 'released' AND fingerprint = excluded.fingerprint)
      RETURNING token`),
    takeOverLapsed: db.prepare(`UPDATE ${t} SET token = token + 1, lease_until = @leaseUntil,
        expires_at = max(expires_at, @expiresAt)
      WHERE id = @id AND state = 'in-flight' AND lease_until <= @now AND expires_at > @now
        AND fingerprint = @fingerprint
      RETURNING token`),
    select: db.prepare(`SELECT * FROM ${t} WHERE id = ?`),
    renew: db.prepare(`UPDATE ${t} SET lease_until = @leaseUntil WHERE ${held}`),
    complete: db.prepare(`UPDATE ${t} SET state = 'completed', lease_until = 0, completed_at = @now,
        expires_at = @expiresAt, status = @status, headers = @headers, body = @body, kept = @kept
      WHERE ${held}`),
    release: db.prepare(`UPDATE ${t} SET state = 'released', lease_until = 0 WHERE ${held}`),
    get: db.prepare(`SELECT * FROM ${t} WHERE id = ? AND expires_at > ?`),
    delete: db.prepare(`DELETE FROM ${t} WHERE id = ?`),
    list: db.prepare(`SELECT * FROM ${t}
      WHERE expires_at > @now AND (@state IS NULL OR state = @state) AND (@since IS NULL OR created_at >= @since)
        AND (@afterCreated IS NULL OR created_at < @afterCreated OR (created_at = @afterCreated AND id < @afterId))
      ORDER BY created_at DESC, id DESC LIMIT @limit`),
    purge: db.prepare(`DELETE FROM ${t} WHERE rowid IN
      (SELECT rowid FROM ${t} WHERE expires_at <= @now LIMIT @limit)`),
  };
  // A user's database may return BigInts by default; every value here fits in a JS number.
  for (const statement of Object.values(statements)) statement.safeIntegers(false);
  return statements;
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
  };
  if (row.completed_at !== null) record.completedAt = row.completed_at;
  if (row.status !== null) {
    const headers = JSON.parse(row.headers ?? "[]");
    record.response = { status: row.status, headers, body: row.body ?? new Uint8Array(), kept: row.kept === 1 };
  }
  return record;
}
