import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreError, StoreTimeoutError } from "../../src/core/errors.js";
import { loadSqliteDriver, type NodeSqliteDatabase } from "../../src/stores/sqlite/driver.js";
import {
  type SqliteDatabase,
  type SqliteDriverName,
  SqliteStore,
  type SqliteStoreOptions,
} from "../../src/stores/sqlite/index.js";
import { testStore } from "../../src/testing/index.js";

const dir = mkdtempSync(join(tmpdir(), "oncely-sqlite-"));
let files = 0;
const file = () => join(dir, `store-${files++}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const storeModule = fileURLToPath(new URL("../../src/stores/sqlite/index.ts", import.meta.url));

let now = 1_700_000_000_000;
const clock = () => now;
const opts = { lease: 1000, ttl: 10_000, meta: { key: "k" } };
const ok = { status: 201, headers: [["x-a", "1"]] as [string, string][], body: new Uint8Array([1, 2]), kept: true };

const major = Number(process.versions.node.split(".")[0]);
const builtin = process.getBuiltinModule?.("node:sqlite") as
  | { DatabaseSync: new (path: string) => NodeSqliteDatabase }
  | undefined;
/**
 * Every driver the store runs on in this runtime: node:sqlite where it is built in (22.13+), better-sqlite3 where the
 * store picks it (Node.js 20, and 22 when installed). On 24 the store never loads better-sqlite3, and the version
 * Node.js 20 needs (12) can abort a Node.js 24 process, so it is not tested there.
 */
const drivers: SqliteDriverName[] = [
  ...(builtin ? (["node:sqlite"] as const) : []),
  ...(major < 24 ? (["better-sqlite3"] as const) : []),
];

/** Another connection to the file, on the same driver, as another process would open it. */
async function connect(driver: SqliteDriverName, path: string) {
  return (await loadSqliteDriver(driver))(path);
}

/** An in-memory database of the driver's own kind that logs the first word of every statement it runs. */
async function loggedDatabase(driver: SqliteDriverName, log: string[]): Promise<SqliteDatabase> {
  const record = (sql: string) => log.push(sql.trim().split(/\s/)[0]!);
  if (driver === "better-sqlite3") {
    const { default: Database } = await import("better-sqlite3");
    return new Database(":memory:", { verbose: (sql) => record(String(sql)) });
  }
  // node:sqlite has no statement log: a proxy records what the store runs through it.
  const database = new builtin!.DatabaseSync(":memory:");
  const logged = <T extends object>(target: T, sql?: string): T =>
    new Proxy(target, {
      get(object, name) {
        const value = Reflect.get(object, name, object);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          if (name === "exec") record(String(args[0]));
          if (sql !== undefined && (name === "run" || name === "get" || name === "all")) record(sql);
          const result = value.apply(object, args);
          return name === "prepare" ? logged(result, String(args[0])) : result;
        };
      },
    });
  return logged(database);
}

for (const driver of drivers) {
  describeDriver(driver);
}

function describeDriver(driver: SqliteDriverName) {
  testStore({
    name: `sqlite (${driver})`,
    create: () => new SqliteStore({ path: file(), now: clock, driver }),
    advance: (ms) => {
      now += ms;
    },
    test: { describe, it, expect, beforeAll, afterAll },
    steps: true,
    streams: true,
    replayCounts: true,
    aggregate: true,
    additionalTests: () => {
      it("purges a run's stream entries with the expired records, without counting them as records", async () => {
        const path = file();
        const store = new SqliteStore({ path, now: clock, driver });
        const claim = await store.claim("streamed", "fp", opts);
        if (claim.status !== "claimed") throw new Error("not claimed");
        expect(
          await store.appendStream("streamed", claim.token, [new Uint8Array([1]), new Uint8Array([2])], 10_000),
        ).toBe(true);
        now += 10_001;
        expect(await store.purgeExpired()).toBe(1);
        const db = await connect(driver, path);
        expect(db.prepare('SELECT count(*) AS n FROM "oncely_records_stream"').get()).toEqual({ n: 0 });
        db.close();
        await store.close();
      });

      it("keeps completed records across a restart", async () => {
        const path = file();
        const first = new SqliteStore({ path, now: clock, driver });
        const claim = await first.claim("id", "fp", opts);
        if (claim.status !== "claimed") throw new Error("not claimed");
        await first.complete("id", claim.token, ok, 10_000);
        await first.close();
        const second = new SqliteStore({ path, now: clock, driver });
        const replay = await second.claim("id", "fp", opts);
        expect(replay.status).toBe("completed");
        if (replay.status === "completed") expect(replay.record.response).toEqual({ ...ok, body: Buffer.from([1, 2]) });
        await second.close();
      });

      it("grants one claim when two stores on one file race for an id", async () => {
        const path = file();
        const stores = [new SqliteStore({ path, driver }), new SqliteStore({ path, driver })];
        const results = await Promise.all(Array.from({ length: 40 }, (_, i) => stores[i % 2]!.claim("id", "fp", opts)));
        expect(results.filter((r) => r.status === "claimed")).toHaveLength(1);
        await Promise.all(stores.map((store) => store.close()));
      });

      it("grants one claim when four processes race for an id", async () => {
        const path = file();
        const start = Date.now() + 1500;
        const child = `const { SqliteStore } = await import(${JSON.stringify(storeModule)});
        const store = new SqliteStore({ path: ${JSON.stringify(path)}, driver: ${JSON.stringify(driver)} });
        await store.migrate();
        while (Date.now() < ${start});
        let claimed = 0;
        for (let i = 0; i < 25; i++) if ((await store.claim("id", "fp", { lease: 60000, ttl: 60000, meta: { key: "k" } })).status === "claimed") claimed++;
        console.log(claimed);
        await store.close();`;
        const run = () => promisify(execFile)(process.execPath, ["--import", "tsx", "-e", child]);
        const outputs = await Promise.all([run(), run(), run(), run()]);
        expect(outputs.reduce((sum, { stdout }) => sum + Number(stdout), 0)).toBe(1);
      });

      it("runs one transaction per claim: one statement when new, a read more when the id is taken", async () => {
        const log: string[] = [];
        const database = await loggedDatabase(driver, log);
        const store = new SqliteStore({ database, now: clock });
        await store.migrate();
        log.length = 0;
        const claim = await store.claim("id", "fp", opts);
        expect(log).toEqual(["BEGIN", "INSERT", "COMMIT"]);
        if (claim.status === "claimed") await store.complete("id", claim.token, ok, 10_000);
        log.length = 0;
        expect((await store.claim("id", "fp", opts)).status).toBe("completed");
        expect(log).toEqual(["BEGIN", "INSERT", "SELECT", "COMMIT"]);
        await store.close();
        // A database the user opened stays open.
        expect(database.prepare("SELECT 1 AS one").get()).toEqual({ one: 1 });
        database.close();
      });

      it("fails with a StoreTimeoutError when another connection holds the write lock past `timeout`", async () => {
        const path = file();
        const store = new SqliteStore({ path, timeout: 100, driver });
        await store.migrate();
        const other = await connect(driver, path);
        other.exec("BEGIN IMMEDIATE");
        const started = Date.now();
        await expect(store.claim("id", "fp", opts)).rejects.toThrow(StoreTimeoutError);
        expect(Date.now() - started).toBeLessThan(1000);
        other.exec("ROLLBACK");
        expect((await store.claim("id", "fp", opts)).status).toBe("claimed");
        other.close();
        await store.close();
      });

      it("adds the step columns to a table an earlier version created, keeping its records", async () => {
        const path = file();
        const old = await connect(driver, path);
        // The schema of the store before steps existed.
        old.exec(`CREATE TABLE IF NOT EXISTS "oncely_records" (
        id TEXT PRIMARY KEY, state TEXT NOT NULL, fingerprint TEXT NOT NULL, token INTEGER NOT NULL,
        created_at INTEGER NOT NULL, lease_until INTEGER NOT NULL, expires_at INTEGER NOT NULL, completed_at INTEGER,
        status INTEGER, headers TEXT, body BLOB, kept INTEGER, meta TEXT NOT NULL, version INTEGER NOT NULL);`);
        old
          .prepare(`INSERT INTO oncely_records (id, state, fingerprint, token, created_at, lease_until, expires_at, meta,
          version) VALUES ('old', 'released', 'fp', 7, ?, 0, ?, '{"key":"k"}', 1)`)
          .run(now, now + 10_000);
        old.close();
        const stores = [new SqliteStore({ path, now: clock, driver }), new SqliteStore({ path, now: clock, driver })];
        await Promise.all(stores.map((store) => store.migrate()));
        const [store] = stores as [SqliteStore, SqliteStore];
        expect(await store.get("old")).toMatchObject({ state: "released", token: 7, steps: [], replays: 0 });
        // The old record gets a run id at its first takeover, and records steps from then on.
        const taken = await store.claim("old", "fp", { ...opts, runId: "run-1" });
        expect(taken).toMatchObject({ status: "claimed", token: 8, runId: "run-1", steps: [] });
        expect(await store.saveStep("old", 8, { name: "a", seq: 0, state: "done", value: "1" })).toBe(true);
        expect((await store.get("old"))?.steps).toEqual([{ name: "a", seq: 0, state: "done", value: "1" }]);
        await Promise.all(stores.map((s) => s.close()));
        const reopened = await connect(driver, path);
        const columns = reopened.prepare('PRAGMA table_info("oncely_records")').all() as { name: string }[];
        reopened.close();
        expect(columns.map((column) => column.name)).toEqual(
          expect.arrayContaining(["run_id", "steps", "work", "run_created_at", "replays"]),
        );
      });

      it("starts a new run when an earlier oncely re-created the expired record beside this one (rolling deploy)", async () => {
        const path = file();
        const store = new SqliteStore({ path, now: clock, driver });
        const first = await store.claim("id", "fp", {
          ...opts,
          ttl: 1_000,
          runId: "run-old",
          work: { name: "w", input: "1" },
        });
        if (first.status !== "claimed") throw new Error("not claimed");
        expect(await store.saveStep("id", first.token, { name: "charge", seq: 0, state: "done", value: "1" })).toBe(
          true,
        );
        now += 2_000;
        // What the earlier version's claim does to an expired record, then its release: the run columns untouched.
        const old = await connect(driver, path);
        old
          .prepare(`UPDATE oncely_records SET state = 'released', token = token + 1, created_at = ?, lease_until = 0,
          expires_at = ? WHERE id = 'id'`)
          .run(now, now + 10_000);
        old.close();
        const record = await store.get("id");
        expect(record).toMatchObject({ state: "released", steps: [] });
        expect(record?.runId).toBeUndefined();
        expect(record?.work).toBeUndefined();
        const taken = await store.claim("id", "fp", { ...opts, runId: "run-new" });
        expect(taken).toMatchObject({ status: "claimed", runId: "run-new", steps: [] });
        // From then on the run is the record's own, and a takeover keeps it.
        if (taken.status !== "claimed") throw new Error("not claimed");
        expect(await store.saveStep("id", taken.token, { name: "a", seq: 0, state: "done", value: "2" })).toBe(true);
        expect(await store.release("id", taken.token)).toBe(true);
        expect(await store.claim("id", "fp", { ...opts, runId: "run-other" })).toMatchObject({
          runId: "run-new",
          steps: [{ name: "a", seq: 0, state: "done", value: "2" }],
        });
        await store.close();
      });

      it("counts replays of live completed records only, and a record made afresh after expiry starts at 0", async () => {
        const store = new SqliteStore({ path: file(), now: clock, driver });
        const done = await store.claim("done", "fp", opts);
        if (done.status !== "claimed") throw new Error("not claimed");
        await store.complete("done", done.token, ok, 1_000);
        expect((await store.claim("running", "fp", opts)).status).toBe("claimed");
        await store.countReplays(
          new Map([
            ["done", 2],
            ["running", 5],
            ["absent", 1],
          ]),
        );
        expect((await store.get("done"))?.replays).toBe(2);
        expect((await store.get("running"))?.replays).toBe(0);
        expect(await store.get("absent")).toBeUndefined();
        now += 2_000;
        await store.countReplays(new Map([["done", 1]]));
        expect((await store.claim("done", "fp", opts)).status).toBe("claimed");
        expect((await store.get("done"))?.replays).toBe(0);
        await store.close();
      });

      it("records a step in one statement, and refuses the 1,001st step of a run with a StoreError", async () => {
        const log: string[] = [];
        const database = await loggedDatabase(driver, log);
        const store = new SqliteStore({ database, now: clock });
        const claim = await store.claim("id", "fp", opts);
        if (claim.status !== "claimed") throw new Error("not claimed");
        log.length = 0;
        expect(await store.saveStep("id", claim.token, { name: "s0", seq: 0, state: "started" })).toBe(true);
        expect(log).toEqual(["UPDATE"]);
        for (let seq = 0; seq < 1_000; seq++) {
          expect(await store.saveStep("id", claim.token, { name: `s${seq}`, seq, state: "done" })).toBe(true);
        }
        const full = store.saveStep("id", claim.token, { name: "s1000", seq: 1_000, state: "started" });
        await expect(full).rejects.toThrow(StoreError);
        await expect(full).rejects.toThrow(/1000 steps/);
        // A step already recorded is still answered: the bound only refuses new ones.
        expect(await store.saveStep("id", claim.token, { name: "s999", seq: 999, state: "done" })).toBe(true);
        expect((await store.get("id"))?.steps).toHaveLength(1_000);
        await store.close();
        database.close();
      });
    },
  });
}

describe("SqliteStore", () => {
  it("validates its options, and refuses one it does not know, naming the one meant", () => {
    expect(() => new SqliteStore({})).toThrow(/exactly one of `path`/);
    expect(() => new SqliteStore({ path: ":memory:", table: "x; DROP" })).toThrow(/`table`/);
    expect(() => new SqliteStore({ path: ":memory:", timeout: -1 })).toThrow(/`timeout`/);
    const driver = "sqlite3" as SqliteDriverName;
    expect(() => new SqliteStore({ path: ":memory:", driver })).toThrow(
      new TypeError('Expected `driver` to be "node:sqlite" or "better-sqlite3", got "sqlite3"'),
    );
    // The issue's own example: a typo'd `table` would have shared the default table with another app.
    const typo = { path: ":memory:", tabel: "app_a_keys" } as SqliteStoreOptions;
    expect(() => new SqliteStore(typo)).toThrow(/^Unknown SqliteStore option `tabel`/);
    expect(() => new SqliteStore({ path: ":memory:", driverr: "node:sqlite" } as SqliteStoreOptions)).toThrow(
      new TypeError("Unknown SqliteStore option `driverr`; did you mean `driver`?"),
    );
  });

  /** Runs a store operation in a child process in which importing better-sqlite3 throws `error`; prints the outcome. */
  async function withoutBetterSqlite3(error: string, flags: string[] = [], driver?: SqliteDriverName) {
    // A resolve hook makes the package unresolvable (as in an app that never installed it) or broken.
    const hook = `export async function resolve(specifier, context, next) {
      if (specifier === "better-sqlite3") throw ${error};
      return next(specifier, context);
    }`;
    const options = JSON.stringify({ path: ":memory:", ...(driver ? { driver } : {}) });
    const child = `(await import("node:module")).register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hook)}));
      const { SqliteStore } = await import(${JSON.stringify(storeModule)});
      const store = new SqliteStore(${options});
      await store.claim("id", "fp", ${JSON.stringify(opts)}).then((r) => console.log(r.status), (e) => console.log(e.message));
      await store.close();`;
    const args = [...flags, "--no-warnings", "--import", "tsx", "-e", child];
    return (await promisify(execFile)(process.execPath, args)).stdout.trim();
  }
  const missing = 'Object.assign(new Error("not found"), { code: "ERR_MODULE_NOT_FOUND" })';
  // Where node:sqlite exists, this flag takes it away: the runtime is then as Node.js 20 for the store.
  const noBuiltin = builtin ? ["--no-experimental-sqlite"] : [];

  it("says in one line what to install when neither node:sqlite nor better-sqlite3 is there", async () => {
    expect(await withoutBetterSqlite3(missing, noBuiltin)).toBe(
      '[oncely] [sqlite] SqliteStore needs the "better-sqlite3" package on Node.js 20 (22.13+ has SQLite built in): npm install better-sqlite3',
    );
    expect(await withoutBetterSqlite3(missing, noBuiltin, "better-sqlite3")).toBe(
      '[oncely] [sqlite] SqliteStore needs the "better-sqlite3" package: npm install better-sqlite3',
    );
    expect(await withoutBetterSqlite3(missing, noBuiltin, "node:sqlite")).toMatch(
      /^\[oncely\] \[sqlite\] SqliteStore's driver "node:sqlite" needs Node\.js 22\.13 or newer \(this is v\d+\.\d+\.\d+\)$/,
    );
  });

  it.skipIf(!builtin)("runs on node:sqlite without better-sqlite3 where the runtime has it", async () => {
    expect(await withoutBetterSqlite3(missing)).toBe("claimed");
  });

  it.skipIf(major < 24)("never loads better-sqlite3 on Node.js 24 unless told to", async () => {
    // A better-sqlite3 that fails to load (a native build for another Node.js ABI) would fail the claim if loaded.
    expect(await withoutBetterSqlite3('new Error("better-sqlite3 was loaded")')).toBe("claimed");
  });
});
