import type { SqliteDatabase } from "../../src/stores/sqlite/index.js";

/** A charge as the payments tools record it. */
export interface Charge {
  id: string;
  amount: number;
  currency: string;
  created: string;
}

/**
 * The demo's ledger: a `charges` table in the same SQLite file as oncely's records, so a restart keeps both. Node.js
 * 22.13+ has SQLite built in; Node.js 20 uses better-sqlite3.
 */
export async function openLedger(path: string) {
  const builtin = process.getBuiltinModule?.("node:sqlite") as
    | { DatabaseSync: new (path: string) => SqliteDatabase }
    | undefined;
  const database = builtin ? new builtin.DatabaseSync(path) : new (await import("better-sqlite3")).default(path);
  database.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 1000");
  database.exec(
    "CREATE TABLE IF NOT EXISTS charges (id TEXT PRIMARY KEY, amount INTEGER NOT NULL, currency TEXT NOT NULL, created TEXT NOT NULL)",
  );
  return {
    database,
    add(amount: number, currency: string): Charge {
      const charge = {
        id: `ch_${crypto.randomUUID().slice(0, 8)}`,
        amount,
        currency,
        created: new Date().toISOString(),
      };
      database
        .prepare("INSERT INTO charges (id, amount, currency, created) VALUES (?, ?, ?, ?)")
        .run(charge.id, charge.amount, charge.currency, charge.created);
      return charge;
    },
    list: () =>
      database.prepare("SELECT id, amount, currency, created FROM charges ORDER BY created").all() as Charge[],
    count: () => (database.prepare("SELECT count(*) AS n FROM charges").get() as { n: number }).n,
  };
}
