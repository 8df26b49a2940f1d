import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withIdempotency } from "../../src/adapters/node/index.js";
import { createIdempotency } from "../../src/core/engine.js";
import type { Store } from "../../src/core/store.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";
import { serveNode } from "../http/servers.js";
import { serviceAvailable, services } from "../support/services.js";
import { jsonLines, runCli } from "./run-cli.js";

// Every command runs as a child process against records the real engine wrote (through the node adapter and
// idem.run), on a SQLite file and on Redis. Read-only cases run concurrently to keep the file fast.

const dir = mkdtempSync(join(tmpdir(), "oncely-cli-"));
const redisBase = `oncely-cli-test:${randomUUID().slice(0, 8)}:`;
const redisUp = await serviceAvailable("redis");

interface Backend {
  name: string;
  available: boolean;
  /** A fresh store (its own file or key prefix) and the store URL the CLI reads it with. */
  create(tag: string): { store: Store; url: string };
}

const backends: Backend[] = [
  {
    name: "sqlite",
    available: true,
    create: (tag) => {
      const path = join(dir, `${tag}.db`);
      return { store: new SqliteStore({ path }), url: `sqlite:${path}` };
    },
  },
  {
    name: "redis",
    available: redisUp,
    create: (tag) => {
      const prefix = `${redisBase}${tag}:`;
      const store = new RedisStore({ url: services.redis.url, prefix });
      return { store, url: `${services.redis.url}?prefix=${encodeURIComponent(prefix)}` };
    },
  },
];

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (!redisUp) return;
  const client = new Redis(services.redis.url);
  const keys = await client.keys(`${redisBase}*`);
  if (keys.length > 0) await client.unlink(...keys);
  await client.quit();
});

const JOBS = 25;
/** How often the seed replays charge-2. */
const REPLAYS = 3;
const BINARY = Uint8Array.from([0, 1, 2, 255, 254, 65, 66]);
const chargeBody = (key: string) => JSON.stringify({ id: `ch_${key}` });
const jobResult = (n: number) => JSON.stringify({ n });
/** Bytes of every stored body the seed writes: two charges, the binary file, the jobs. */
const SEEDED_BODY_BYTES =
  chargeBody("charge-1").length +
  chargeBody("charge-2").length +
  BINARY.byteLength +
  Array.from({ length: JOBS }, (_, n) => jobResult(n).length).reduce((a, b) => a + b, 0);

/**
 * Writes, through the engine: two completed charges (one in scope acct_1, the other replayed three times), a binary
 * response, a 500 (released), 25 jobs, and one job still running (in flight). Returns what ends the running job.
 */
async function seed(store: Store): Promise<() => Promise<void>> {
  const idem = createIdempotency({ store });
  const handle: Parameters<typeof withIdempotency>[1] = (req, res) => {
    const key = String(req.headers["idempotency-key"]);
    if (req.url === "/files") {
      res.setHeader("content-type", "application/octet-stream");
      res.end(BINARY);
    } else if (req.url === "/fail") {
      res.statusCode = 500;
      res.end("boom");
    } else {
      res.statusCode = 201;
      res.setHeader("content-type", "application/json");
      res.setHeader("x-request-id", `r-${key}`);
      res.end(chargeBody(key));
    }
  };
  // Requests with an account run scoped to it (a scope function must name one); the others in the shared space.
  const scoped = withIdempotency(idem, handle, { scope: (request) => request.headers["x-account"] as string });
  const unscoped = withIdempotency(idem, handle);
  const server = await serveNode((req, res) => void (req.headers["x-account"] ? scoped : unscoped)(req, res));
  const post = (path: string, key: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { "idempotency-key": key, "content-type": "application/json", ...headers },
      body: '{"amount":100}',
    }).then((response) => response.status);
  expect(await post("/charges", "charge-1", { "x-account": "acct_1" })).toBe(201);
  expect(await post("/charges", "charge-2")).toBe(201);
  for (let n = 0; n < REPLAYS; n++) expect(await post("/charges", "charge-2")).toBe(201);
  expect(await post("/files", "bin-1")).toBe(200);
  expect(await post("/fail", "fail-1")).toBe(500);
  await server.close();
  for (let n = 0; n < JOBS; n++) await idem.run(`job-${n}`, () => ({ n }));
  let finish!: () => void;
  const running = idem.run("slow-1", () => new Promise<void>((resolve) => (finish = resolve)));
  await new Promise((resolve) => setTimeout(resolve, 50));
  // The engine writes replay counts off the request path, within a second.
  const replaysOf = async (key: string) =>
    (await store.list({ limit: 1_000 })).records.find((record) => record.meta.key === key)?.replays;
  for (const deadline = Date.now() + 5_000; (await replaysOf("charge-2")) !== REPLAYS; ) {
    if (Date.now() > deadline) throw new Error(`charge-2 shows ${await replaysOf("charge-2")} replays`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return async () => {
    finish();
    await running;
  };
}

for (const backend of backends) {
  // Children queue for the machine's two cores (see run-cli.ts), so a test's time includes its wait.
  describe.skipIf(!backend.available)(`oncely CLI on ${backend.name}`, { timeout: 120_000 }, () => {
    let url: string;
    let store: Store;
    let finishRunning: () => Promise<void>;
    const cli = (...args: string[]) => runCli([...args, "--store", url]);

    beforeAll(async () => {
      ({ store, url } = backend.create("seeded"));
      finishRunning = await seed(store);
    });
    afterAll(async () => {
      await finishRunning?.();
      await store?.close();
    });

    describe.concurrent("inspect", () => {
      it("finds a scoped key with --scope and prints one JSON document with --json", async ({ expect }) => {
        const { code, stdout, stderr } = await cli("inspect", "charge-1", "--scope", "acct_1", "--json");
        expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
        const record = JSON.parse(stdout);
        expect(record).toMatchObject({
          key: "charge-1",
          state: "completed",
          method: "POST",
          path: "/charges",
          leaseUntil: null,
          replays: 0,
          version: 1,
          response: {
            status: 201,
            kept: true,
            sealedWith: null,
            decrypted: false,
            body: { size: chargeBody("charge-1").length, truncated: false, text: chargeBody("charge-1") },
          },
        });
        expect(record.scope).toMatch(/^[\w-]{16}$/);
        expect(record.fingerprint).toMatch(/^[\w-]{43}$/);
        expect(record.response.headers).toContainEqual(["content-type", "application/json"]);
        expect(record.response.headers).toContainEqual(["x-request-id", "r-charge-1"]);
        expect(Date.parse(record.expiresAt) - Date.parse(record.completedAt)).toBe(86_400_000);
      });

      it("exits 2 for a scoped key asked without its scope, naming the id that reaches it", async ({ expect }) => {
        const missed = await cli("inspect", "charge-1");
        expect(missed.code).toBe(2);
        expect(missed.stdout).toBe("");
        const match =
          /^oncely: no record for key "charge-1" without a scope; 1 record with this key exists under another scope: pass its --scope, or --id (\S+)\n$/.exec(
            missed.stderr,
          );
        expect(match, missed.stderr).not.toBeNull();
        const byId = await cli("inspect", "--id", match![1]!, "--json");
        expect(byId.code).toBe(0);
        expect(JSON.parse(byId.stdout)).toMatchObject({ key: "charge-1", id: match![1] });
      });

      it("shows how often the stored response was replayed", async ({ expect }) => {
        const { code, stdout } = await cli("inspect", "charge-2", "--json");
        expect(code).toBe(0);
        expect(JSON.parse(stdout)).toMatchObject({ key: "charge-2", replays: REPLAYS });
      });

      it("shows a binary body as base64 in JSON", async ({ expect }) => {
        const { stdout } = await cli("inspect", "bin-1", "--json");
        expect(JSON.parse(stdout).response.body).toEqual({
          size: 7,
          truncated: false,
          base64: Buffer.from(BINARY).toString("base64"),
        });
      });
    });

    describe.concurrent("list", () => {
      it("pages through every live record past one page, newest first, as JSON Lines", async ({ expect }) => {
        const { code, stdout, stderr } = await cli("list", "--since", "1h", "--page-size", "7", "--json");
        expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
        const records = jsonLines(stdout);
        const keys = records.map((record) => record.key);
        const jobs = Array.from({ length: JOBS }, (_, n) => `job-${n}`);
        expect(keys).toHaveLength(JOBS + 5);
        expect(new Set(keys)).toEqual(new Set([...jobs, "slow-1", "charge-1", "charge-2", "bin-1", "fail-1"]));
        const created = records.map((record) => Date.parse(String(record.createdAt)));
        expect(created).toEqual([...created].sort((a, b) => b - a));
        const byKey = new Map(records.map((record) => [record.key, record]));
        expect(byKey.get("fail-1")).toMatchObject({ state: "released", response: null, leaseUntil: null });
        expect(byKey.get("slow-1")).toMatchObject({ state: "in-flight", response: null, path: "run", method: null });
        expect(Date.parse(String(byKey.get("slow-1")!.leaseUntil))).toBeGreaterThan(Date.now());
        expect(byKey.get("bin-1")).toMatchObject({ state: "completed", response: { status: 200, bodyBytes: 7 } });
      });

      it("filters by state in the store", async ({ expect }) => {
        const { code, stdout, stderr } = await cli("list", "--state", "released", "--json");
        expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
        expect(jsonLines(stdout).map((r) => [r.key, r.state])).toEqual([["fail-1", "released"]]);
      });

      it("stops at --limit and says on stderr that more may match", async ({ expect }) => {
        const { code, stdout, stderr } = await cli(
          "list",
          "--route",
          "run",
          "--limit",
          "5",
          "--page-size",
          "2",
          "--json",
        );
        expect(code).toBe(0);
        const records = jsonLines(stdout);
        expect(records).toHaveLength(5);
        expect(records.every((record) => record.path === "run")).toBe(true);
        expect(stderr).toBe("5 records shown; more may match (raise --limit)\n");
      });
    });

    describe.concurrent("stats", () => {
      it("counts records by state and route and sums body bytes", async ({ expect }) => {
        const { code, stdout, stderr } = await cli("stats", "--json");
        expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
        const stats = JSON.parse(stdout);
        expect(stats).toMatchObject({
          scanned: JOBS + 5,
          capped: false,
          states: { completed: JOBS + 3, released: 1, "in-flight": 1 },
          bodyBytes: SEEDED_BODY_BYTES,
          notKept: 0,
          sealed: 0,
          expiredNotPurged: null,
        });
        expect(stats.routes).toEqual([
          { route: "run", records: JOBS + 1 },
          { route: "POST /charges", records: 2 },
          { route: "POST /fail", records: 1 },
          { route: "POST /files", records: 1 },
        ]);
        expect(Date.parse(stats.oldest)).toBeLessThanOrEqual(Date.parse(stats.newest));
      });

      it("says when --limit capped the scan", async ({ expect }) => {
        const { code, stdout, stderr } = await cli("stats", "--limit", "10", "--page-size", "4", "--json");
        expect(code).toBe(0);
        expect(JSON.parse(stdout)).toMatchObject({ scanned: 10, limit: 10, capped: true });
        expect(stderr).toBe("scan stopped at --limit 10: the store has more records; counts are lower bounds\n");
      });
    });

    it("purges expired records, up to --limit", async () => {
      const { store: purgeStore, url: purgeUrl } = backend.create("purge");
      const idem = createIdempotency({ store: purgeStore });
      for (let n = 0; n < 5; n++) await idem.run(`short-${n}`, () => n, { ttl: "200ms" });
      for (let n = 0; n < 2; n++) await idem.run(`long-${n}`, () => n);
      await new Promise((resolve) => setTimeout(resolve, 400));
      const purge = (...args: string[]) => runCli(["purge", "--expired", ...args, "--store", purgeUrl]);

      expect(await purge("--limit", "2")).toEqual({
        code: 0,
        stdout: "purged 2 expired records\n",
        stderr: "reached --limit: more expired records may remain (run it again)\n",
      });
      const rest = await purge("--json");
      expect(JSON.parse(rest.stdout)).toEqual({ purged: 3, limit: null, limitReached: false });
      const live = await purgeStore.list();
      expect(live.records.map((record) => record.meta.key).sort()).toEqual(["long-0", "long-1"]);
      await idem.close();
    });

    // What a person reads does not depend on the store: checked once, on SQLite.
    describe.runIf(backend.name === "sqlite").concurrent("terminal output", () => {
      it("inspect shows state, times, fingerprint, headers and the body as text, without colour on a pipe", async ({
        expect,
      }) => {
        const { code, stdout, stderr } = await cli("inspect", "charge-2");
        expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
        expect(stdout).toMatch(/^key +charge-2$/m);
        expect(stdout).toMatch(/^state +completed$/m);
        expect(stdout).toMatch(/^route +POST \/charges$/m);
        expect(stdout).toMatch(/^scope +none$/m);
        expect(stdout).toMatch(/^created +\d{4}-\d\d-\d\dT[\d:.]+Z \(\d+(ms|s).* ago\)$/m);
        expect(stdout).toMatch(/^expires +\S+Z \(in 23h 5\dm\)$/m);
        expect(stdout).toMatch(/^fingerprint +[\w-]{43}$/m);
        expect(stdout).toMatch(new RegExp(`^replays +${REPLAYS}$`, "m"));
        expect(stdout).toMatch(/^status +201$/m);
        expect(stdout).toMatch(/^headers +content-type: application\/json$/m);
        expect(stdout).toMatch(/^ +x-request-id: r-charge-2$/m);
        expect(stdout).toMatch(new RegExp(`^body +${chargeBody("charge-2").length} B, text$`, "m"));
        expect(stdout).toContain(`\n  ${chargeBody("charge-2")}\n`);
        expect(stdout).not.toContain("\u001b");
      });

      it("inspect shows a binary body as a hex dump", async ({ expect }) => {
        const { stdout } = await cli("inspect", "bin-1");
        expect(stdout).toMatch(/^body +7 B, binary$/m);
        expect(stdout).toMatch(/^ +00000000 {2}00 01 02 ff fe 41 42 +\.{3}\.{2}AB$/m);
      });

      it("inspect exits 2 with one line for a key that was never used", async ({ expect }) => {
        expect(await cli("inspect", "never-sent")).toEqual({
          code: 2,
          stdout: "",
          stderr: 'oncely: no record for key "never-sent" without a scope\n',
        });
      });

      it("inspect --route exits 2 when the key was used on another route", async ({ expect }) => {
        expect(await cli("inspect", "charge-2", "--route", "POST /refunds")).toEqual({
          code: 2,
          stdout: "",
          stderr:
            'oncely: no record for key "charge-2" without a scope on POST /refunds: the key was used on POST /charges\n',
        });
      });

      it("list filters by route and shows a table", async ({ expect }) => {
        const { code, stdout, stderr } = await cli("list", "--route", "POST /charges");
        expect(code).toBe(0);
        const lines = stdout.trimEnd().split("\n");
        const inADay = expect.stringMatching(/^in 23h 5\dm$/);
        expect(lines[0]).toMatch(/^CREATED +STATE +STATUS +BODY +EXPIRES +SCOPE +ROUTE +KEY$/);
        expect(lines.slice(1).map((line) => line.split(/ {2,}/).slice(1))).toEqual(
          expect.arrayContaining([
            [
              "completed",
              "201",
              `${chargeBody("charge-1").length} B`,
              inADay,
              expect.stringMatching(/^[\w-]{16}$/),
              "POST /charges",
              "charge-1",
            ],
            ["completed", "201", `${chargeBody("charge-2").length} B`, inADay, "-", "POST /charges", "charge-2"],
          ]),
        );
        expect(lines).toHaveLength(3);
        expect(stderr).toBe("2 records\n");
      });

      it("list --older-than leaves out younger records", async ({ expect }) => {
        expect(await cli("list", "--older-than", "1h")).toEqual({ code: 0, stdout: "", stderr: "no records match\n" });
      });

      it("stats prints aligned lines", async ({ expect }) => {
        const { code, stdout } = await cli("stats");
        expect(code).toBe(0);
        expect(stdout).toMatch(new RegExp(`^records +${JOBS + 5}$`, "m"));
        expect(stdout).toMatch(new RegExp(`^completed +${JOBS + 3}$`, "m"));
        expect(stdout).toMatch(/^in-flight +1$/m);
        expect(stdout).toMatch(/^expired +not counted/m);
        expect(stdout).toMatch(new RegExp(`^ +${JOBS + 1} {2}run$`, "m"));
      });
    });
  });
}
