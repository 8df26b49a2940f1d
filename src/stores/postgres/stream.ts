import type { Pool, PoolClient } from "pg";
import type { StreamRead, StreamRunState } from "../../core/store.js";
import { quoteTable } from "./sql.js";

/**
 * The PostgreSQL store's stream logs (`stream: true` routes): one row per entry in a table beside the records'
 * (`<table>_stream`, keyed by record id, token and position), so a follower of one run never reads another run's
 * entries. An append is one statement, fenced by the token, that also sends `NOTIFY oncely_streams`; a follower with
 * nothing new waits for that notification on the store's one listening connection (taken from the pool for the
 * store's life), so it wakes on the append itself, without polling.
 */

/** The channel appends notify on; the payload names the table, the record and the run. */
const CHANNEL = "oncely_streams";
const NOW = "date_trunc('milliseconds', statement_timestamp())";

/** The stream table's name, quoted: the records' table's with `_stream` added (in the same schema). */
function streamTable(table: string): string {
  return quoteTable(`${table}_stream`);
}

/** The stream table's schema, for teams that run their own migrations; `migrate()` creates it too. */
export function postgresStreamSchema(table = "oncely_records"): string {
  const s = streamTable(table);
  const name = table.split(".").at(-1);
  return `CREATE TABLE IF NOT EXISTS ${s} (
  id TEXT COLLATE "C" NOT NULL,
  token BIGINT NOT NULL,
  seq INTEGER NOT NULL,
  entry BYTEA NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (id, token, seq)
);
CREATE INDEX IF NOT EXISTS "${name}_stream_expires_at" ON ${s} (expires_at);`;
}

/** The statements of the stream logs on `table`. */
export function streamStatements(table: string) {
  const t = quoteTable(table);
  const s = streamTable(table);
  return {
    append: {
      name: `oncely:${table}:appendStream`,
      text: `WITH held AS (
  SELECT 1 FROM ${t} WHERE id = $1 AND token = $2 AND state = 'in-flight' AND expires_at > ${NOW}
), next AS (
  SELECT coalesce(max(seq) + 1, 0) AS seq FROM ${s} WHERE id = $1 AND token = $2
), added AS (
  INSERT INTO ${s} (id, token, seq, entry, expires_at)
  SELECT $1, $2, next.seq + e.ord - 1, e.entry, ${NOW} + $4::float8 * interval '1 millisecond'
  FROM held, next, unnest($3::bytea[]) WITH ORDINALITY AS e(entry, ord)
  RETURNING 1
)
SELECT EXISTS (SELECT FROM held) AS held,
  CASE WHEN EXISTS (SELECT FROM held) THEN pg_notify('${CHANNEL}', $5) END AS notified,
  (SELECT count(*) FROM added) AS added`,
    },
    // One statement, so one snapshot: the run's state and its entries as of the same moment.
    read: {
      name: `oncely:${table}:readStream`,
      text: `SELECT coalesce((SELECT CASE
    WHEN r.token <> $2 OR r.expires_at <= ${NOW} THEN 'gone'
    WHEN r.state = 'completed' THEN 'completed'
    WHEN r.state = 'in-flight' AND r.lease_until > ${NOW} THEN 'held'
    ELSE 'gone' END
  FROM ${t} AS r WHERE r.id = $1), 'gone') AS state,
  ARRAY(SELECT entry FROM ${s} WHERE id = $1 AND token = $2 AND seq >= $3 ORDER BY seq) AS entries`,
    },
    // A table whose schema came from an older `postgresSchema()` may have no stream table: purging asks first.
    present: { name: `oncely:${table}:streamTable`, text: "SELECT to_regclass($1) IS NOT NULL AS present" },
    purge: { name: `oncely:${table}:purgeStreams`, text: `DELETE FROM ${s} WHERE expires_at <= ${NOW}` },
  };
}

/** The payload of an append's notification: which run of which record, on which table. */
export function runName(table: string, id: string, token: number): string {
  return `${table} ${id} ${token}`;
}

/** Turns a read's row into a `StreamRead`. */
export function streamRead(row: { state: string; entries: Buffer[] }): StreamRead {
  return { state: row.state as StreamRunState, entries: row.entries.map((entry) => new Uint8Array(entry)) };
}

/**
 * The store's listening connection: `LISTEN oncely_streams` on a connection taken from the pool on first use, and the
 * followers waiting for a run's next append.
 */
export class StreamListener {
  #client: Promise<PoolClient> | undefined;
  readonly #waiters = new Map<string, Set<() => void>>();

  /** Listens (once), then resolves a wait that ends at the run's next append, or after `wait` ms. */
  async listen(pool: Pool, run: string, wait: number): Promise<{ done: Promise<void>; cancel: () => void }> {
    this.#client ??= this.#connect(pool);
    await this.#client;
    let end!: () => void;
    const done = new Promise<void>((resolve) => {
      end = resolve;
    });
    let waiters = this.#waiters.get(run);
    if (waiters === undefined) {
      waiters = new Set();
      this.#waiters.set(run, waiters);
    }
    const timer = setTimeout(() => finish(), wait);
    timer.unref?.();
    const finish = () => {
      clearTimeout(timer);
      waiters.delete(finish);
      if (waiters.size === 0 && this.#waiters.get(run) === waiters) this.#waiters.delete(run);
      end();
    };
    waiters.add(finish);
    return { done, cancel: finish };
  }

  async close(): Promise<void> {
    const client = await this.#client?.catch(() => undefined);
    this.#client = undefined;
    client?.release(true);
  }

  async #connect(pool: Pool): Promise<PoolClient> {
    const client = await pool.connect();
    client.on("notification", ({ payload }) => {
      if (payload === undefined) return;
      for (const finish of [...(this.#waiters.get(payload) ?? [])]) finish();
    });
    // A broken listening connection is dropped: the next wait takes a new one (waits until then end on their timer).
    client.on("error", () => {
      this.#client = undefined;
      client.release(true);
    });
    await client.query(`LISTEN ${CHANNEL}`);
    return client;
  }
}
