import type { StreamRead, StreamRunState } from "../../core/store.js";
import { type Execute, HELD, NOW, quoteTable } from "./sql.js";

/**
 * The MySQL store's stream logs (`stream: true` routes): one row per entry in a table beside the records'
 * (`<table>_stream`, keyed by record id, token and position), so a follower of one run never reads another run's
 * entries. An append is one statement fenced by the token; a read is one statement too, so the run's state and its
 * entries come from one snapshot. MySQL cannot wake a reader on another connection's insert, so a follower polls
 * (`pollStream`: every 10 ms at first, growing by half up to 200 ms).
 */

/** The stream table's schema, for teams that run their own migrations; `migrate()` creates it too. */
export function mysqlStreamSchema(table = "oncely_records"): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteTable(`${table}_stream`)} (
  id VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  token BIGINT NOT NULL,
  seq INT NOT NULL,
  entry LONGBLOB NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (id, token, seq),
  INDEX expires_at (expires_at)
) ENGINE=InnoDB`;
}

/** The stream logs' operations on `table`, each one statement. */
export function mysqlStreams(table: string) {
  const t = quoteTable(table);
  const s = quoteTable(`${table}_stream`);
  /**
   * The append of up to `size` entries (a power of two, so that few statement texts are prepared; the unused slots
   * are NULL and insert nothing). `LOCK IN SHARE MODE` keeps the record as the fence saw it until the insert commits,
   * whatever the isolation level: a `complete` or a takeover waits for the append, never slips in between.
   */
  const appendSql = (size: number) => {
    const slots = Array.from({ length: size }, (_, i) => `SELECT :e${i} AS entry, ${i} AS k`).join(" UNION ALL ");
    return `INSERT INTO ${s} (id, token, seq, entry, expires_at)
      SELECT :id, :token, next.seq + e.k, e.entry, ${NOW} + :ttl
      FROM (SELECT 1 FROM ${t} WHERE ${HELD} LOCK IN SHARE MODE) AS held,
        (SELECT COALESCE(MAX(seq) + 1, 0) AS seq FROM ${s} WHERE id = :id AND token = :token) AS next,
        (${slots}) AS e
      WHERE e.entry IS NOT NULL`;
  };
  const state = `COALESCE((SELECT CASE
      WHEN r.token <> :token OR r.expires_at <= ${NOW} THEN 'gone'
      WHEN r.state = 'completed' THEN 'completed'
      WHEN r.state = 'in-flight' AND r.lease_until > ${NOW} THEN 'held'
      ELSE 'gone' END
    FROM ${t} AS r WHERE r.id = :id), 'gone')`;
  // One row per entry, or a single row with no entry: the state comes with them, from the same snapshot.
  const read = `SELECT run.state, e.entry FROM (SELECT ${state} AS state) AS run
    LEFT JOIN ${s} AS e ON e.id = :id AND e.token = :token AND e.seq >= :from
    ORDER BY e.seq`;
  const purge = `DELETE FROM ${s} WHERE expires_at <= ${NOW}`;
  // Whether the run held the claim: an append that inserted nothing may have had nothing to insert.
  const held = `SELECT 1 AS held FROM ${t} WHERE ${HELD}`;

  return {
    /** Appends `entries` if `token` holds the claim; one statement per 64 entries (the engine sends at most 64). */
    async append(execute: Execute, id: string, token: number, entries: Uint8Array[], ttl: number): Promise<boolean> {
      for (let start = 0; start < entries.length; start += MAX_ENTRIES_PER_STATEMENT) {
        const chunk = entries.slice(start, start + MAX_ENTRIES_PER_STATEMENT);
        const size = 2 ** Math.ceil(Math.log2(chunk.length));
        const values: Record<string, string | number | Buffer | null> = { id, token, ttl: Math.round(ttl) };
        for (let i = 0; i < size; i++) {
          const entry = chunk[i];
          values[`e${i}`] = entry ? Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength) : null;
        }
        const { affectedRows } = (await execute(appendSql(size), values)) as { affectedRows: number };
        if (affectedRows === 0) return false;
      }
      if (entries.length > 0) return true;
      return ((await execute(held, { id, token })) as unknown[]).length > 0;
    },
    async read(execute: Execute, id: string, token: number, from: number): Promise<StreamRead> {
      const rows = (await execute(read, { id, token, from })) as { state: StreamRunState; entry: Buffer | null }[];
      const entries = rows.flatMap((row) => (row.entry === null ? [] : [new Uint8Array(row.entry)]));
      return { state: rows[0]?.state ?? "gone", entries };
    },
    /** Deletes expired entries; a table whose schema came from an older `mysqlSchema()` may have no stream table. */
    async purgeExpired(execute: Execute): Promise<void> {
      await execute(purge, {}).catch((error: { errno?: number }) => {
        if (error?.errno !== 1146) throw error; // ER_NO_SUCH_TABLE
      });
    },
  };
}

export type MySqlStreams = ReturnType<typeof mysqlStreams>;

/** Entries per append statement: the engine's own bound on one append, so an append is one statement. */
const MAX_ENTRIES_PER_STATEMENT = 64;
