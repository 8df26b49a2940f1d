import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withIdempotency } from "../../src/adapters/node/index.js";
import {
  createIdempotency,
  type IdempotencyContext,
  type IdempotencyEvent,
  type IdempotencyOptions,
  MemoryStore,
  StoreError,
} from "../../src/index.js";
import { PostgresStore } from "../../src/stores/postgres/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { readStream, serveNode } from "../http/servers.js";
import { serviceAvailable, services } from "../support/services.js";

const url = services.postgres.url;
const storeModule = fileURLToPath(new URL("../../src/stores/postgres/index.ts", import.meta.url));
const indexModule = fileURLToPath(new URL("../../src/index.ts", import.meta.url));
const nodeModule = fileURLToPath(new URL("../../src/adapters/node/index.ts", import.meta.url));

/** A promise the test resolves by hand, to hold a handler mid-flight. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

if (await serviceAvailable("postgres")) {
  describe("postgres transactional mode: the claim, the handler's writes and the response commit together", () => {
    const suffix = randomUUID().slice(0, 8);
    const records = `oncely_tx_${suffix}`;
    const charges = `charges_tx_${suffix}`;
    const pool = new pg.Pool({ connectionString: url, max: 30 });
    const store = new PostgresStore({ pool, table: records });
    const events: IdempotencyEvent[] = [];
    const servers: RunningServer[] = [];

    beforeAll(async () => {
      await store.migrate();
      // The deferred check fails only at COMMIT: how a commit failure is provoked below.
      await pool.query(`CREATE TABLE ${charges} (
        id SERIAL PRIMARY KEY, key TEXT NOT NULL, amount INTEGER NOT NULL,
        CONSTRAINT positive CHECK (amount > 0),
        CONSTRAINT one_per_key UNIQUE (key, amount) DEFERRABLE INITIALLY DEFERRED)`);
    });
    afterAll(async () => {
      await Promise.all(servers.map((server) => server.close()));
      await pool.query(`DROP TABLE IF EXISTS ${charges}; DROP TABLE IF EXISTS ${records}`);
      await pool.end();
    });

    const chargesFor = async (key: string) =>
      Number((await pool.query(`SELECT count(*) AS n FROM ${charges} WHERE key = $1`, [key])).rows[0].n);

    type Behaviour = (tx: pg.PoolClient, ctx: IdempotencyContext, amount: number, res: ServerResponse) => Promise<void>;
    /** A charges endpoint that writes through the transaction; the request body picks how it misbehaves. */
    async function serve(options: Partial<IdempotencyOptions> = {}, behaviours: Record<string, Behaviour> = {}) {
      const idem = createIdempotency({
        store,
        transactional: true,
        onEvent: (event) => events.push(event),
        ...options,
      });
      const handler = async (req: IncomingMessage, res: ServerResponse, ctx: IdempotencyContext | undefined) => {
        const { amount, behaviour } = JSON.parse(Buffer.from(await readStream(req)).toString()) as {
          amount: number;
          behaviour?: string;
        };
        const tx = ctx!.transaction!;
        await tx.query(`INSERT INTO ${charges} (key, amount) VALUES ($1, $2)`, [ctx!.key, amount]);
        if (behaviour) return behaviours[behaviour]!(tx, ctx!, amount, res);
        res.writeHead(201, { "content-type": "application/json" });
        res.end(JSON.stringify({ charged: amount, key: ctx!.key }));
      };
      const guarded = withIdempotency(idem, handler);
      // The node adapter rethrows what the handler threw, after answering 500; the test has seen it.
      const server = await serveNode((req, res) => void guarded(req, res).catch(() => {}));
      servers.push(server);
      return server;
    }
    const post = (server: RunningServer, key: string, body: object) =>
      fetch(`${server.url}/charges`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": key },
        body: JSON.stringify(body),
      });

    it("commits the handler's write with the response once, and replays it without writing again", async () => {
      const server = await serve();
      const key = randomUUID();
      const first = await post(server, key, { amount: 100 });
      expect(first.status).toBe(201);
      const replay = await post(server, key, { amount: 100 });
      expect(replay.status).toBe(201);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(await replay.text()).toBe(JSON.stringify({ charged: 100, key }));
      expect(await chargesFor(key)).toBe(1);
      expect((await post(server, key, { amount: 200 })).status).toBe(422);
      expect(await chargesFor(key)).toBe(1);
    });

    it("rolls the handler's writes back with the claim when it throws, answers a status not stored, or skips", async () => {
      let failures = 0;
      const server = await serve(
        {},
        {
          throw: async () => {
            failures++;
            throw new Error("boom");
          },
          status500: async (_tx, _key, _amount, res) => {
            failures++;
            res.writeHead(500).end("try again");
          },
          skip: async (_tx, ctx, _amount, res) => {
            failures++;
            ctx.skipStore();
            res.writeHead(400).end("skipped");
          },
        },
      );
      for (const [behaviour, status] of [
        ["throw", 500],
        ["status500", 500],
        ["skip", 400],
      ] as const) {
        const key = randomUUID();
        const failed = await post(server, key, { amount: 5, behaviour });
        expect(failed.status).toBe(status);
        expect(await chargesFor(key)).toBe(0);
        // Nothing was committed, so the key is new: the retry runs and commits.
        expect((await post(server, key, { amount: 5 })).status).toBe(201);
        expect(await chargesFor(key)).toBe(1);
      }
      expect(failures).toBe(3);
      const released = events.filter((event) => event.type === "released");
      expect(released.at(-1)?.reason).toMatch(/rolled back/);
    });

    it("answers 503 and keeps nothing when the commit itself fails, so the retry runs again", async () => {
      const server = await serve(
        {},
        {
          // A second row that breaks a deferred constraint: the statement succeeds, the COMMIT fails.
          duplicate: async (tx, ctx, amount, res) => {
            await tx.query(`INSERT INTO ${charges} (key, amount) VALUES ($1, $2)`, [ctx.key, amount]);
            res.writeHead(201).end("looked fine");
          },
          // The handler swallows its own failed statement; the transaction is aborted all the same.
          swallowed: async (tx, ctx, _amount, res) => {
            await tx.query(`INSERT INTO ${charges} (key, amount) VALUES ($1, -1)`, [ctx.key]).catch(() => {});
            res.writeHead(201).end("looked fine");
          },
        },
      );
      for (const behaviour of ["duplicate", "swallowed"]) {
        const key = randomUUID();
        const failed = await post(server, key, { amount: 7, behaviour });
        expect(failed.status).toBe(503);
        expect(failed.headers.get("content-type")).toBe("application/problem+json");
        expect(failed.headers.get("retry-after")).toBe("1");
        expect(await chargesFor(key)).toBe(0);
        expect((await post(server, key, { amount: 7 })).status).toBe(201);
        expect(await chargesFor(key)).toBe(1);
      }
      // The pool got its connections back: every later request still gets one.
      expect(pool.totalCount).toBeLessThanOrEqual(30);
    });

    it("answers 409 at once to a duplicate while the first is running, and runs the handler once in 100", async () => {
      const hold = gate();
      let runs = 0;
      const server = await serve(
        {},
        {
          hold: async (_tx, _ctx, amount, res) => {
            runs++;
            await hold.opened;
            res.writeHead(201).end(String(amount));
          },
        },
      );
      const key = randomUUID();
      const first = post(server, key, { amount: 9, behaviour: "hold" });
      while (runs === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const duplicates = await Promise.all(
        Array.from({ length: 99 }, () => post(server, key, { amount: 9, behaviour: "hold" })),
      );
      expect(duplicates.map((response) => response.status)).toEqual(Array(99).fill(409));
      hold.open();
      expect((await first).status).toBe(201);
      expect(runs).toBe(1);
      expect(await chargesFor(key)).toBe(1);
    });

    it("with onInFlight: wait, duplicates wait on the lock and replay the committed response", async () => {
      const hold = gate();
      let runs = 0;
      const server = await serve(
        { onInFlight: "wait", waitTimeout: "5s" },
        {
          hold: async (_tx, _ctx, amount, res) => {
            runs++;
            await hold.opened;
            res.writeHead(201).end(`charged ${amount}`);
          },
        },
      );
      const key = randomUUID();
      const first = post(server, key, { amount: 3, behaviour: "hold" });
      while (runs === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const waiting = Array.from({ length: 10 }, () => post(server, key, { amount: 3, behaviour: "hold" }));
      await new Promise((resolve) => setTimeout(resolve, 100));
      hold.open();
      const answers = await Promise.all([first, ...waiting]);
      expect(answers.map((response) => response.status)).toEqual(Array(11).fill(201));
      const bodies = await Promise.all(answers.map((response) => response.text()));
      expect(new Set(bodies)).toEqual(new Set(["charged 3"]));
      expect(answers.slice(1).every((response) => response.headers.get("idempotent-replayed") === "true")).toBe(true);
      expect(runs).toBe(1);
      expect(await chargesFor(key)).toBe(1);
    });

    it("answers 409 when the wait runs out, and the waiter's own transaction is gone", async () => {
      const hold = gate();
      let runs = 0;
      const server = await serve(
        { onInFlight: "wait", waitTimeout: 200 },
        {
          hold: async (_tx, _ctx, _amount, res) => {
            runs++;
            await hold.opened;
            res.writeHead(201).end("done");
          },
        },
      );
      const key = randomUUID();
      const first = post(server, key, { amount: 4, behaviour: "hold" });
      while (runs === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const started = Date.now();
      expect((await post(server, key, { amount: 4, behaviour: "hold" })).status).toBe(409);
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      hold.open();
      expect((await first).status).toBe(201);
      expect(runs).toBe(1);
    });

    it("answers 503 when no connection comes within the store timeout, and rolls back the claim that comes late", async () => {
      const small = new pg.Pool({ connectionString: url, max: 1 });
      const narrow = new PostgresStore({ pool: small, table: records });
      const idem = createIdempotency({ store: narrow, transactional: true, storeTimeout: 150 });
      const hold = gate();
      const handler = async (_req: IncomingMessage, res: ServerResponse, ctx: IdempotencyContext | undefined) => {
        await ctx!.transaction!.query(`INSERT INTO ${charges} (key, amount) VALUES ($1, 1)`, [ctx!.key]);
        await hold.opened;
        res.end("ok");
      };
      const server = await serveNode(withIdempotency(idem, handler));
      servers.push(server);
      const holder = post(server, randomUUID(), { amount: 1 });
      while (small.totalCount === 0 || small.idleCount > 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const late = randomUUID();
      expect((await post(server, late, { amount: 1 })).status).toBe(503);
      hold.open();
      expect((await holder).status).toBe(200);
      // The late claim got the connection after we had answered 503: it was rolled back, not left holding it.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await store.get(late)).toBeUndefined();
      expect((await small.query("SELECT 1 AS one")).rows[0].one).toBe(1);
      expect(await chargesFor(late)).toBe(0);
      await small.end();
    });

    it("leaves nothing behind when the process is killed inside the handler; the retry then runs once", async () => {
      const key = randomUUID();
      const child = `
        const { createIdempotency } = await import(${JSON.stringify(indexModule)});
        const { PostgresStore } = await import(${JSON.stringify(storeModule)});
        const { withIdempotency } = await import(${JSON.stringify(nodeModule)});
        const http = await import("node:http");
        const pg = (await import("pg")).default;
        const store = new PostgresStore({ pool: new pg.Pool({ connectionString: ${JSON.stringify(url)} }), table: ${JSON.stringify(records)} });
        const idem = createIdempotency({ store, transactional: true });
        const server = http.createServer(withIdempotency(idem, async (req, res, ctx) => {
          await ctx.transaction.query("INSERT INTO ${charges} (key, amount) VALUES ($1, 1)", [ctx.key]);
          console.log("written");
          await new Promise(() => {});
        }));
        server.listen(0, "127.0.0.1", () => console.log("port " + server.address().port));`;
      const worker: ChildProcess = spawn(process.execPath, ["--import", "tsx", "-e", child], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const lines: string[] = [];
      const nextLine = async (prefix: string) => {
        for (;;) {
          const line = lines.find((l) => l.startsWith(prefix));
          if (line) return line;
          await once(worker.stdout!, "data");
        }
      };
      worker.stdout!.on("data", (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter(Boolean)));
      const port = Number((await nextLine("port ")).slice(5));
      const request = fetch(`http://127.0.0.1:${port}/charges`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": key },
        body: JSON.stringify({ amount: 1 }),
      }).catch((error: unknown) => error);
      await nextLine("written");
      worker.kill("SIGKILL");
      await once(worker, "exit");
      expect(await request).toBeInstanceOf(Error);
      // The server rolled the dead session back: no charge, no record, no lease to wait out.
      expect(await chargesFor(key)).toBe(0);
      const server = await serve();
      expect((await post(server, key, { amount: 1 })).status).toBe(201);
      expect(await chargesFor(key)).toBe(1);
      expect(events.some((event) => event.type === "recovered" && event.key === key)).toBe(false);
    });

    it("runs idem.run work in the transaction too", async () => {
      const idem = createIdempotency({ store, transactional: true });
      const key = randomUUID();
      const work = async (ctx: IdempotencyContext) => {
        const { rows } = await ctx.transaction!.query(
          `INSERT INTO ${charges} (key, amount) VALUES ($1, 12) RETURNING id`,
          [key],
        );
        return { id: rows[0].id as number };
      };
      const first = await idem.run(key, work);
      expect(await idem.run(key, work)).toEqual(first);
      expect(await chargesFor(key)).toBe(1);
      const failing = randomUUID();
      await expect(
        idem.run(failing, async (ctx) => {
          await ctx.transaction!.query(`INSERT INTO ${charges} (key, amount) VALUES ($1, 1), ($1, 1)`, [failing]);
          return "never committed";
        }),
      ).rejects.toBeInstanceOf(StoreError);
      expect(await chargesFor(failing)).toBe(0);
    });

    it("replays a record a plain route completed, and plain routes replay what a transactional one committed", async () => {
      const plain = createIdempotency({ store });
      const transactional = createIdempotency({ store, transactional: true });
      const key = randomUUID();
      expect(await plain.run(key, () => "plain")).toBe("plain");
      expect(await transactional.run(key, () => "never")).toBe("plain");
      const other = randomUUID();
      expect(await transactional.run(other, () => "tx")).toBe("tx");
      expect(await plain.run(other, () => "never")).toBe("tx");
    });

    it("refuses transactional: true on a store without the mode, and with failOpen", () => {
      expect(() => createIdempotency({ store: new MemoryStore(), transactional: true })).toThrow(
        /`transactional: true` needs a store with a transactional mode/,
      );
      const idem = createIdempotency({ store: new MemoryStore() });
      expect(() => idem.route({ transactional: true })).toThrow(/transactional mode/);
      expect(() => createIdempotency({ store, transactional: true, failOpen: true })).toThrow(/`failOpen` cannot/);
      expect(() => createIdempotency({ store, transactional: "yes" as unknown as boolean })).toThrow(/`transactional`/);
    });
  });
} else {
  describe.skip("postgres transactional mode (server not reachable)", () => {
    it("skipped", () => {});
  });
}
