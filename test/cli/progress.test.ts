import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { runCli } from "../../src/cli/program.js";
import { progress } from "../../src/cli/progress.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";

// Progress on long store work shows on a terminal's stderr only. The CLI runs in process here, given the streams
// `oncely` gets from the process: `isTTY` is all that tells a terminal apart, so a stream that says it is one is one.

const dir = mkdtempSync(join(tmpdir(), "oncely-progress-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LIVE = 1_200;
const EXPIRED = 300;

/** A SQLite file with live completed records and records that expired a day ago. */
async function seeded(name: string): Promise<string> {
  const path = join(dir, `${name}.db`);
  const dayAgo = Date.now() - 2 * 86_400_000;
  for (const [count, now] of [
    [LIVE, Date.now()],
    [EXPIRED, dayAgo],
  ] as const) {
    const store = new SqliteStore({ path, now: () => now });
    for (let n = 0; n < count; n++) {
      const id = `${now}-${n}`;
      const claim = await store.claim(id, "fp", { lease: 1000, ttl: 86_400_000, meta: { key: id, path: "/x" } });
      if (claim.status !== "claimed") throw new Error("not claimed");
      await store.complete(
        id,
        claim.token,
        { status: 200, headers: [], body: new Uint8Array(10), kept: true },
        86_400_000,
      );
    }
    await store.close();
  }
  return `sqlite:${path}`;
}

// Output shows ages ("3s ago"): the wall clock stands still while the tests compare outputs (progress rates run on
// performance.now, which keeps going).
afterEach(() => {
  vi.useRealTimers();
});
const stopClock = () => vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });

/** Runs `oncely ...args` in process; `terminal` says whether stderr is a terminal. */
async function oncely(args: string[], terminal: boolean) {
  let stdout = "";
  let stderr = "";
  const io = {
    stdout: { write: (text: string) => (stdout += text), isTTY: false },
    stderr: { write: (text: string) => (stderr += text), isTTY: terminal },
    env: {},
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}

/** What redraws a line in place: a carriage return, then "erase to the end of the line"; shown as ⟲ below. */
const ERASE = "\r\x1b[K";
const visible = (text: string) => text.replaceAll(ERASE, "⟲");
const LINE = /^(⟲[\d,]+ records read( \([\d,]+\/s\))?)+⟲$/;

describe("progress on a terminal", () => {
  let store: string;
  beforeAll(async () => {
    store = await seeded("read");
  }, 60_000);

  it("stats --scan reports records read on a terminal's stderr, erases it, and prints what it prints off one", async () => {
    const args = ["stats", "--scan", "--page-size", "100", "--store", store];
    stopClock();
    const [onTerminal, offTerminal] = [await oncely(args, true), await oncely(args, false)];
    expect(onTerminal.code).toBe(0);
    expect(visible(onTerminal.stderr)).toMatch(LINE);
    expect(onTerminal.stderr).toContain("records read");
    expect(offTerminal).toEqual({ code: 0, stdout: onTerminal.stdout, stderr: "" });
    expect(onTerminal.stdout).toMatch(new RegExp(`^records +${LIVE}$`, "m"));
  });

  it("list reports records read; --json never shows progress", async () => {
    const args = ["list", "--limit", "2000", "--store", store];
    stopClock();
    const [onTerminal, offTerminal] = [await oncely(args, true), await oncely(args, false)];
    expect(onTerminal.stderr.startsWith("\r\x1b[K")).toBe(true);
    expect(onTerminal.stderr.endsWith(`\r\x1b[K${LIVE} records\n`)).toBe(true);
    expect(offTerminal.stderr).toBe(`${LIVE} records\n`);
    expect(offTerminal.stdout).toBe(onTerminal.stdout);
    const json = await oncely(["stats", "--scan", "--json", "--store", store], true);
    expect(json.stderr).toBe("");
    expect(JSON.parse(json.stdout)).toMatchObject({ scanned: LIVE, expiredNotPurged: EXPIRED });
  });

  it("purge reports expired records deleted, and prints what it prints off a terminal", async () => {
    const [first, second] = [await seeded("purge-1"), await seeded("purge-2")];
    const onTerminal = await oncely(["purge", "--expired", "--store", first], true);
    const offTerminal = await oncely(["purge", "--expired", "--store", second], false);
    expect(visible(onTerminal.stderr)).toMatch(/^⟲300 expired records deleted( \([\d,]+\/s\))?⟲$/);
    expect(onTerminal.stdout).toBe(`purged ${EXPIRED} expired records\n`);
    expect(offTerminal).toEqual({ code: 0, stdout: onTerminal.stdout, stderr: "" });
  });
});

describe("progress line", () => {
  it("shows the count and rate, redraws at most every 100 ms, and erases itself", () => {
    let written = "";
    let now = 0;
    const shown = progress({ write: (text) => (written += text) }, "records", "read", () => now);
    now = 1_000;
    shown.update(4_000);
    now = 1_050;
    shown.update(4_100);
    now = 3_000;
    shown.update(12_000);
    shown.done();
    expect(written).toBe("\r\x1b[K4,000 records read (4,000/s)\r\x1b[K12,000 records read (4,000/s)\r\x1b[K");
  });
});
