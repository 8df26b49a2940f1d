import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { runCli } from "./run-cli.js";

// What the CLI does before and around a store: help, usage errors, bad and unreachable stores, a missing driver.
// Each case runs the real bin in a child process, in an empty directory (so the default ./oncely.db is absent).

const cwd = mkdtempSync(join(tmpdir(), "oncely-cli-usage-"));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));
const cli = (...args: string[]) => runCli(args, { cwd });

/** A module that, loaded with --import, makes better-sqlite3 unresolvable, as in an app that never installed it. */
const hideBetterSqlite3 = `data:text/javascript,${encodeURIComponent(`
  import { register } from "node:module";
  register("data:text/javascript," + encodeURIComponent(\`
    export async function resolve(specifier, context, next) {
      if (specifier === "better-sqlite3") throw Object.assign(new Error("not found"), { code: "ERR_MODULE_NOT_FOUND" });
      return next(specifier, context);
    }\`));
`)}`;

/** Where the runtime has SQLite built in (node:sqlite) the default store needs no package: this flag takes it away. */
const withoutBuiltinSqlite = process.getBuiltinModule?.("node:sqlite")
  ? { NODE_OPTIONS: "--no-experimental-sqlite" }
  : {};

describe.concurrent("oncely CLI usage", { timeout: 120_000 }, () => {
  it("prints help for the program and every command, with the exit codes, and exits 0", async ({ expect }) => {
    const [program, ...commands] = await Promise.all([
      cli("--help"),
      ...["inspect", "list", "purge", "stats", "reindex"].map((name) => cli(name, "--help")),
    ]);
    expect(program.code).toBe(0);
    expect(program.stdout).toMatch(/^Usage: oncely \[options\] \[command\]/);
    for (const name of ["inspect", "list", "purge", "stats", "reindex"])
      expect(program.stdout).toMatch(new RegExp(`^  ${name} `, "m"));
    expect(program.stdout).toContain("Store URLs");
    expect(program.stdout).toMatch(/^ {2}2 {2}not found/m);
    expect(program.stdout).toMatch(/^ {2}3 {2}store error/m);
    for (const [index, name] of ["inspect", "list", "purge", "stats", "reindex"].entries()) {
      const help = commands[index]!;
      expect(help.code, name).toBe(0);
      expect(help.stderr, name).toBe("");
      expect(help.stdout, name).toMatch(new RegExp(`^Usage: oncely ${name} \\[options\\]`));
      expect(help.stdout, name).toContain("--store <url>");
      expect(help.stdout, name).toContain("--json");
      expect(help.stdout, name).toMatch(/Exit codes:\n {2}0 {2}/);
    }
  });

  it("exits 1 with one line for usage errors", async ({ expect }) => {
    const [unknownOption, badNumber, noExpired] = await Promise.all([
      cli("list", "--colour"),
      cli("list", "--limit", "0"),
      cli("purge", "--store", "memory:"),
    ]);
    expect(unknownOption).toEqual({
      code: 1,
      stdout: "",
      stderr: "oncely: unknown option '--colour' (see oncely list --help)\n",
    });
    expect(badNumber.code).toBe(1);
    expect(badNumber.stderr).toMatch(
      /^oncely: option '-n, --limit <n>' argument '0' is invalid\. Expected a whole number of at least 1\. \(see oncely list --help\)\n$/,
    );
    expect(noExpired).toEqual({
      code: 1,
      stdout: "",
      stderr: "oncely: purge deletes expired records only: pass --expired (see oncely purge --help)\n",
    });
  });

  it("exits 1 with one line for a bad store URL, never showing its password", async ({ expect }) => {
    const param = await cli("list", "--store", "postgres://admin:hunter2@db/app?table=a&table=b");
    expect(param).toEqual({
      code: 1,
      stdout: "",
      stderr: 'oncely: invalid store URL "postgres://admin:***@db/app?table=a&table=b": `table` is given 2 times\n',
    });
  });

  it("exits 3 with one line when the store is unreachable or absent", async ({ expect }) => {
    const [redis, noFile] = await Promise.all([cli("list", "--store", "redis://127.0.0.1:1"), cli("stats")]);
    expect(redis).toEqual({
      code: 3,
      stdout: "",
      stderr: "oncely: [redis] list failed: connect ECONNREFUSED 127.0.0.1:1 (store redis://127.0.0.1:1)\n",
    });
    expect(noFile).toEqual({
      code: 3,
      stdout: "",
      stderr:
        "oncely: [sqlite] open failed: no database file at ./oncely.db (the default store sqlite:./oncely.db; pass --store for another)\n",
    });
  });

  it("says in one line that the default store needs better-sqlite3, and suggests --store memory:", async ({
    expect,
  }) => {
    const result = await runCli(["list"], { cwd, imports: [hideBetterSqlite3], env: withoutBuiltinSqlite });
    expect(result).toEqual({
      code: 3,
      stdout: "",
      stderr:
        'oncely: the default store (sqlite:./oncely.db) needs the "better-sqlite3" package: npm install better-sqlite3, or pass --store memory: (or another store URL)\n',
    });
  });

  it.skipIf(!process.getBuiltinModule?.("node:sqlite"))(
    "opens the default store on node:sqlite without better-sqlite3 where the runtime has it",
    async ({ expect }) => {
      const result = await runCli(["list"], { cwd, imports: [hideBetterSqlite3] });
      // Past the driver: the store is opened, and the missing file is the only complaint.
      expect(result.stderr).toMatch(/^oncely: \[sqlite\] open failed: no database file at \.\/oncely\.db/);
    },
  );

  it("reads the store from ONCELY_STORE, and works on an empty memory: store", async ({ expect }) => {
    const stats = await runCli(["stats", "--json"], { cwd, env: { ONCELY_STORE: "memory:" } });
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({
      ...{ counted: "aggregate", records: 0, scanned: 0, capped: false, oldest: null },
      ...{ expiredNotPurged: 0, bodyBytes: null },
    });
  });
});
