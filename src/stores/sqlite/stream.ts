import type { StreamRead, StreamRunState } from "../../core/store.js";
import type { SqliteConnection, SqliteStatement } from "./driver.js";
import { checkTableAndClock } from "./sql.js";

/**
 * The SQLite store's stream logs (`stream: true` routes): one row per entry in a table beside the records' (its name
 * with `_stream` added), keyed by (record id, token, position), so a follower of one run never reads another run's
 * entries. SQLite has no way to wake a reader in another connection, so a follower polls: every 10 ms at first,
 * growing by half up to 200 ms, within the wait it was given.
 */

/** The stream table's schema, for teams that run their own migrations; the store creates it on first use otherwise. */
export function sqliteStreamSchema(table = "oncely_records"): string {
  checkTableAndClock(table, undefined);
  return `CREATE TABLE IF NOT EXISTS "${table}_stream" (
  id TEXT NOT NULL,
  token INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  entry BLOB NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (id, token, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "${table}_stream_expires_at" ON "${table}_stream" (expires_at);`;
}

/**
 * The SQL of the stream logs on `table`, shared with the libSQL store. An entry is inserted only while the token holds
 * a live claim, at the run's next position: run once per entry inside one write transaction, the first insert is the
 * fence (nothing inserted: not held), and the others see what it saw.
 */
export function sqliteStreamSql(table: string) {
  const t = `"${table}"`;
  const s = `"${table}_stream"`;
  return {
    insert: `INSERT INTO ${s} (id, token, seq, entry, expires_at)
      SELECT @id, @token, (SELECT coalesce(max(seq) + 1, 0) FROM ${s} WHERE id = @id AND token = @token), @entry, @expiresAt
      WHERE EXISTS (SELECT 1 FROM ${t} WHERE id = @id AND token = @token AND state = 'in-flight' AND expires_at > @now)`,
    held: `SELECT 1 AS held FROM ${t} WHERE id = @id AND token = @token AND state = 'in-flight' AND expires_at > @now`,
    entries: `SELECT entry FROM ${s} WHERE id = @id AND token = @token AND seq >= @from ORDER BY seq`,
    run: `SELECT state, token, lease_until, expires_at FROM ${t} WHERE id = @id`,
    purge: `DELETE FROM ${s} WHERE expires_at <= @now`,
  };
}

/** A run's record, as `sqliteStreamSql().run` reads it. */
export interface RunRow {
  state: string;
  token: number | bigint;
  lease_until: number | bigint;
  expires_at: number | bigint;
}

/** Where the record `row` stands for the run `token` at `now`. */
export function runState(row: RunRow | undefined, token: number, now: number): StreamRunState {
  if (row === undefined || Number(row.token) !== token || Number(row.expires_at) <= now) return "gone";
  if (row.state === "completed") return "completed";
  return row.state === "in-flight" && Number(row.lease_until) > now ? "held" : "gone";
}

/** The statements of the stream logs, prepared on first use. */
export class SqliteStreams {
  readonly #insert: SqliteStatement;
  readonly #held: SqliteStatement;
  readonly #entries: SqliteStatement;
  readonly #run: SqliteStatement;
  readonly #purge: SqliteStatement;

  constructor(
    readonly db: SqliteConnection,
    table: string,
  ) {
    db.exec(sqliteStreamSchema(table));
    const sql = sqliteStreamSql(table);
    this.#insert = db.prepare(sql.insert);
    this.#held = db.prepare(sql.held);
    this.#entries = db.prepare(sql.entries);
    this.#run = db.prepare(sql.run);
    this.#purge = db.prepare(sql.purge);
  }

  /** Appends in one write transaction, each insert fenced by the token (the first one decides). */
  append(id: string, token: number, entries: Uint8Array[], now: number, expiresAt: number): boolean {
    return this.db.transaction(() => {
      if (entries.length === 0) return this.#held.get({ id, token, now }) !== undefined;
      for (const entry of entries) {
        const bytes = Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength);
        if (this.#insert.run({ id, token, entry: bytes, expiresAt, now }).changes === 0) return false;
      }
      return true;
    });
  }

  /**
   * The run's state, then its entries: read in that order, a run seen completed (or gone) has all its entries by the
   * second read, as its holder appends them before it completes.
   */
  read(id: string, token: number, from: number, now: number): StreamRead {
    const state = runState(this.#run.get({ id }) as RunRow | undefined, token, now);
    const rows = this.#entries.all({ id, token, from }) as { entry: Uint8Array }[];
    return { entries: rows.map((row) => new Uint8Array(row.entry)), state };
  }

  purgeExpired(now: number): void {
    this.#purge.run({ now });
  }
}
