// The SQLite store's own cost on each driver this runtime has: µs per first execution (claim + complete) and per
// replay (the claim of a completed key), sequential, on a file in WAL mode. No HTTP: what the driver choice changes.
//
//   npx tsx bench/sqlite-drivers.ts
//   ONCELY_BENCH_BETTER_SQLITE3=/dir/node_modules/better-sqlite3 npx tsx bench/sqlite-drivers.ts
//
// The variable points at a better-sqlite3 built for this runtime when the project's is built for another (Node.js 22
// or 24 next to a Node.js 20 install), so both drivers can be compared in one process.
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import type { NodeSqliteDatabase } from "../src/stores/sqlite/driver.js";
import { type SqliteDatabase, type SqliteDriverName, SqliteStore } from "../src/stores/sqlite/index.js";
import { median } from "./measure.js";

const KEYS = 20_000;
const ROUNDS = 3;
const response = { status: 201, headers: [["content-type", "application/json"]] as [string, string][], kept: true };
const body = new Uint8Array(200).fill(97);
const claim = { lease: 30_000, ttl: 86_400_000, meta: { key: "k" } };

/** Opens a database file on `driver` with the pragmas the store sets on a file it opens itself. */
function open(driver: SqliteDriverName, path: string): SqliteDatabase | undefined {
  const pragmas = ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA busy_timeout = 1000"];
  let database: { exec(sql: string): unknown } & SqliteDatabase;
  if (driver === "node:sqlite") {
    const builtin = process.getBuiltinModule?.("node:sqlite") as
      | { DatabaseSync: new (path: string) => NodeSqliteDatabase }
      | undefined;
    if (!builtin) return undefined;
    database = new builtin.DatabaseSync(path);
  } else {
    const from = process.env.ONCELY_BENCH_BETTER_SQLITE3 ?? "better-sqlite3";
    try {
      const Database = createRequire(import.meta.url)(from) as typeof BetterSqlite3;
      database = new Database(path);
    } catch (error) {
      console.log(`better-sqlite3: not measured (${(error as Error).message.split("\n")[0]})`);
      return undefined;
    }
  }
  for (const pragma of pragmas) database.exec(pragma);
  return database;
}

async function round(driver: SqliteDriverName, dir: string, index: number) {
  const database = open(driver, join(dir, `${driver.replace(/\W/g, "-")}-${index}.db`));
  if (!database) return undefined;
  const store = new SqliteStore({ database });
  await store.migrate();
  const ids = Array.from({ length: KEYS }, (_, i) => `key-${index}-${i}`);
  let started = process.hrtime.bigint();
  for (const id of ids) {
    const result = await store.claim(id, "fp", claim);
    if (result.status !== "claimed") throw new Error(`${id}: ${result.status}`);
    await store.complete(id, result.token, { ...response, body }, claim.ttl);
  }
  const first = Number(process.hrtime.bigint() - started) / 1000 / KEYS;
  started = process.hrtime.bigint();
  for (const id of ids) {
    if ((await store.claim(id, "fp", claim)).status !== "completed") throw new Error(`${id}: not completed`);
  }
  const replay = Number(process.hrtime.bigint() - started) / 1000 / KEYS;
  await store.close();
  database.close();
  return { first, replay };
}

const dir = mkdtempSync(join(tmpdir(), "oncely-bench-sqlite-"));
try {
  console.log(`Node.js ${process.version}, ${KEYS} keys, 200-byte bodies, median of ${ROUNDS} rounds`);
  for (const driver of ["node:sqlite", "better-sqlite3"] as const) {
    const rounds = [];
    for (let index = 0; index < ROUNDS; index++) {
      const measured = await round(driver, dir, index);
      if (!measured) break;
      rounds.push(measured);
    }
    if (rounds.length === 0) {
      if (driver === "node:sqlite") console.log("node:sqlite: not in this runtime");
      continue;
    }
    const first = median(rounds.map((r) => r.first)).toFixed(1);
    const replay = median(rounds.map((r) => r.replay)).toFixed(1);
    console.log(`${driver}: claim + complete ${first} µs, replay ${replay} µs`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
