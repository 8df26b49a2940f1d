import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreError, StoreTimeoutError } from "../../src/core/errors.js";
import { SqliteStore } from "../../src/stores/sqlite.js";
import { testStore } from "../../src/testing/index.js";

const dir = mkdtempSync(join(tmpdir(), "oncely-sqlite-"));
let files = 0;
const file = () => join(dir, `store-${files++}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const storeModule = fileURLToPath(new URL("../../src/stores/sqlite.ts", import.meta.url));

let now = 1_700_000_000_000;
const clock = () => now;
const opts = { lease: 1000, ttl: 10_000, meta: { key: "k" } };
const ok = { status: 201, headers: [["x-a", "1"]] as [string, string][], body: new Uint8Array([1, 2]), kept: true };

testStore({
  name: "sqlite",
  create: () => new SqliteStore({ path: file(), now: clock }),
  advance: (ms) => {
    now += ms;
  },
  test: { describe, it, expect, beforeAll, afterAll },
  steps: true,
  replayCounts: true,
  additionalTests: () => {
    it("keeps completed records across a restart", async () => {
      const path = file();
      const first = new SqliteStore({ path, now: clock });
      const claim = await first.claim("id", "fp", opts);
      if (claim.status !== "claimed") throw new Error("not claimed");
      await first.complete("id", claim.token, ok, 10_000);
      await first.close();
      const second = new SqliteStore({ path, now: clock });
      const replay = await second.claim("id", "fp", opts);
      expect(replay.status).toBe("completed");
      if (replay.status === "completed") expect(replay.record.response).toEqual({ ...ok, body: Buffer.from([1, 2]) });
      await second.close();
    });

    it("grants one claim when two stores on one file race for an id", async () => {
      const path = file();
      const stores = [new SqliteStore({ path }), new SqliteStore({ path })];
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => stores[i % 2]!.claim("id", "fp", opts)));
      expect(results.filter((r) => r.status === "claimed")).toHaveLength(1);
      await Promise.all(stores.map((store) => store.close()));
    });

    it("grants one claim when four processes race for an id", async () => {
      const path = file();
      const start = Date.now() + 1500;
      const child = `const { SqliteStore } = await import(${JSON.stringify(storeModule)});
        const store = new SqliteStore({ path: ${JSON.stringify(path)} });
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
      const database = new Database(":memory:", { verbose: (sql) => log.push(String(sql).split(/\s/)[0]!) });
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
      expect(database.open).toBe(true);
      database.close();
    });

    it("fails with a StoreTimeoutError when another connection holds the write lock past `timeout`", async () => {
      const path = file();
      const store = new SqliteStore({ path, timeout: 100 });
      await store.migrate();
      const other = new Database(path);
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
      const old = new Database(path);
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
      const stores = [new SqliteStore({ path, now: clock }), new SqliteStore({ path, now: clock })];
      await Promise.all(stores.map((store) => store.migrate()));
      const [store] = stores as [SqliteStore, SqliteStore];
      expect(await store.get("old")).toMatchObject({ state: "released", token: 7, steps: [], replays: 0 });
      // The old record gets a run id at its first takeover, and records steps from then on.
      const taken = await store.claim("old", "fp", { ...opts, runId: "run-1" });
      expect(taken).toMatchObject({ status: "claimed", token: 8, runId: "run-1", steps: [] });
      expect(await store.saveStep("old", 8, { name: "a", seq: 0, state: "done", value: "1" })).toBe(true);
      expect((await store.get("old"))?.steps).toEqual([{ name: "a", seq: 0, state: "done", value: "1" }]);
      await Promise.all(stores.map((s) => s.close()));
      const reopened = new Database(path);
      const columns = reopened.pragma('table_info("oncely_records")') as { name: string }[];
      reopened.close();
      expect(columns.map((column) => column.name)).toEqual(
        expect.arrayContaining(["run_id", "steps", "work", "run_created_at", "replays"]),
      );
    });

    it("starts a new run when an earlier oncely re-created the expired record beside this one (rolling deploy)", async () => {
      const path = file();
      const store = new SqliteStore({ path, now: clock });
      const first = await store.claim("id", "fp", {
        ...opts,
        ttl: 1_000,
        runId: "run-old",
        work: { name: "w", input: "1" },
      });
      if (first.status !== "claimed") throw new Error("not claimed");
      expect(await store.saveStep("id", first.token, { name: "charge", seq: 0, state: "done", value: "1" })).toBe(true);
      now += 2_000;
      // What the earlier version's claim does to an expired record, then its release: the run columns untouched.
      const old = new Database(path);
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
      const store = new SqliteStore({ path: file(), now: clock });
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
      const database = new Database(":memory:", { verbose: (sql) => log.push(String(sql).trim().split(/\s/)[0]!) });
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

    it("validates its options", () => {
      expect(() => new SqliteStore({})).toThrow(/exactly one of `path`/);
      expect(() => new SqliteStore({ path: ":memory:", table: "x; DROP" })).toThrow(/`table`/);
      expect(() => new SqliteStore({ path: ":memory:", timeout: -1 })).toThrow(/`timeout`/);
    });

    it("names the package to install when better-sqlite3 is missing", async () => {
      // A resolve hook in a child process makes the package unresolvable, as in an app that never installed it.
      const hook = `export async function resolve(specifier, context, next) {
        if (specifier === "better-sqlite3") throw Object.assign(new Error("not found"), { code: "ERR_MODULE_NOT_FOUND" });
        return next(specifier, context);
      }`;
      const child = `(await import("node:module")).register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hook)}));
        const { SqliteStore } = await import(${JSON.stringify(storeModule)});
        await new SqliteStore({ path: ":memory:" }).get("id").catch((error) => console.log(error.message));`;
      const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "-e", child]);
      expect(stdout.trim()).toBe(
        '[oncely] [sqlite] SqliteStore needs the "better-sqlite3" package: npm install better-sqlite3',
      );
    });
  },
});
