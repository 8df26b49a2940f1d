import { randomUUID } from "node:crypto";
import pg from "pg";

/**
 * The ledger: one PostgreSQL row per run of the handler, written by the handler itself (through the claim's
 * transaction in transactional mode, as an autocommit write otherwise). Duplicates and lost intents are counted from
 * these rows, never from a process's memory, which a kill -9 takes with it.
 */
export interface EffectRow {
  key: string;
  intent: number;
  effect: string;
  pid: number;
  slot: number;
}

/** Anything that can run a query: a pool, or the `PoolClient` holding a transaction. */
type Queryable = Pick<pg.Pool, "query">;

export function insertEffect(client: Queryable, table: string, row: EffectRow): Promise<unknown> {
  return client.query(`INSERT INTO ${table} (key, intent, effect, pid, slot) VALUES ($1, $2, $3, $4, $5)`, [
    row.key,
    row.intent,
    row.effect,
    row.pid,
    row.slot,
  ]);
}

/** Creates a ledger table of its own for one store's storm; `rows` reads it, `drop` removes it. */
export async function createLedger(url: string) {
  const table = `oncely_crash_ledger_${randomUUID().slice(0, 8)}`;
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  await pool.query(`CREATE TABLE ${table} (
    id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL, intent INTEGER NOT NULL, effect TEXT NOT NULL,
    pid INTEGER NOT NULL, slot INTEGER NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())`);
  return {
    table,
    async rows(): Promise<EffectRow[]> {
      const { rows } = await pool.query(`SELECT key, intent, effect, pid, slot FROM ${table} ORDER BY id`);
      return rows as EffectRow[];
    },
    async drop() {
      try {
        await pool.query(`DROP TABLE IF EXISTS ${table}`);
      } finally {
        await pool.end();
      }
    },
  };
}

export type Ledger = Awaited<ReturnType<typeof createLedger>>;
