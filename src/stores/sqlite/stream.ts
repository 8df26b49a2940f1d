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

/** The statements of the stream logs, prepared on first use. */
export class SqliteStreams {
  readonly #held: SqliteStatement;
  readonly #next: SqliteStatement;
  readonly #insert: SqliteStatement;
  readonly #entries: SqliteStatement;
  readonly #run: SqliteStatement;
  readonly #purge: SqliteStatement;

  constructor(
    readonly db: SqliteConnection,
    table: string,
  ) {
    db.exec(sqliteStreamSchema(table));
    const t = `"${table}"`;
    const s = `"${table}_stream"`;
    this.#held = db.prepare(
      `SELECT 1 AS held FROM ${t} WHERE id = @id AND token = @token AND state = 'in-flight' AND expires_at > @now`,
    );
    this.#next = db.prepare(`SELECT coalesce(max(seq) + 1, 0) AS seq FROM ${s} WHERE id = @id AND token = @token`);
    this.#insert = db.prepare(
      `INSERT INTO ${s} (id, token, seq, entry, expires_at) VALUES (@id, @token, @seq, @entry, @expiresAt)`,
    );
    this.#entries = db.prepare(
      `SELECT entry FROM ${s} WHERE id = @id AND token = @token AND seq >= @from ORDER BY seq`,
    );
    this.#run = db.prepare(`SELECT state, token, lease_until, expires_at FROM ${t} WHERE id = @id`);
    this.#purge = db.prepare(`DELETE FROM ${s} WHERE expires_at <= @now`);
  }

  /** Appends in one write transaction, after checking the token holds the claim: the fence. */
  append(id: string, token: number, entries: Uint8Array[], now: number, expiresAt: number): boolean {
    return this.db.transaction(() => {
      if (!this.#held.get({ id, token, now })) return false;
      let seq = (this.#next.get({ id, token }) as { seq: number }).seq;
      for (const entry of entries) {
        this.#insert.run({
          id,
          token,
          seq: seq++,
          entry: Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength),
          expiresAt,
        });
      }
      return true;
    });
  }

  /**
   * The run's state, then its entries: read in that order, a run seen completed (or gone) has all its entries by the
   * second read, as its holder appends them before it completes.
   */
  read(id: string, token: number, from: number, now: number): StreamRead {
    const state = this.#state(id, token, now);
    const rows = this.#entries.all({ id, token, from }) as { entry: Uint8Array }[];
    return { entries: rows.map((row) => new Uint8Array(row.entry)), state };
  }

  purgeExpired(now: number): void {
    this.#purge.run({ now });
  }

  #state(id: string, token: number, now: number): StreamRunState {
    const row = this.#run.get({ id }) as
      | { state: string; token: number; lease_until: number; expires_at: number }
      | undefined;
    if (row === undefined || row.token !== token || row.expires_at <= now) return "gone";
    if (row.state === "completed") return "completed";
    return row.state === "in-flight" && row.lease_until > now ? "held" : "gone";
  }
}
