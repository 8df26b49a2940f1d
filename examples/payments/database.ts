import type { SqliteDatabase } from "../../src/stores/sqlite/index.js";

/**
 * Opens the demo's SQLite file: the idempotency records and the charges live in it side by side, so a restart keeps
 * both (a replayed charge is still listed). Node.js 22.13+ has SQLite built in; Node.js 20 needs better-sqlite3.
 */
export async function openDemoDatabase(path: string): Promise<SqliteDatabase> {
  const builtin = process.getBuiltinModule?.("node:sqlite") as
    | { DatabaseSync: new (path: string) => SqliteDatabase }
    | undefined;
  const database = builtin ? new builtin.DatabaseSync(path) : new (await import("better-sqlite3")).default(path);
  // WAL and a busy timeout, as SqliteStore sets on a file it opens itself (it leaves a database given to it as is).
  database.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 1000");
  return database;
}
