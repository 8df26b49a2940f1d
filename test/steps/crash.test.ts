/**
 * Issue 10's crash test, for every store that records steps: a worker process running a 3-step checkout (reserve,
 * charge through a payment service that honours Idempotency-Key, email) is killed with SIGKILL after each step in
 * turn, and inside the charge after the payment service answered; a new worker's retry must resume at the next step,
 * and the payment service must record exactly one charge. Also: a step that throws, then succeeds on retry; a
 * terminal error replayed; a changed handler refused; racing retries after a takeover; and, on PostgreSQL,
 * `step.local` killed inside its transaction. Leases are 500 ms, so a dead holder's run is taken over quickly.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoDbStore } from "../../src/stores/dynamodb/index.js";
import { MySqlStore } from "../../src/stores/mysql/index.js";
import { PostgresStore } from "../../src/stores/postgres/index.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";
import {
  type Backend,
  dynamodbBackend,
  mysqlBackend,
  postgresBackend,
  redisBackend,
  sqliteBackend,
} from "../multiprocess/backends.js";
import { serviceAvailable, services } from "../support/services.js";
import { type PaymentService, startPaymentService } from "./payments.js";
import type { CrashPoint, LedgerEntry, WorkerConfig } from "./protocol.js";
import { forkWorkers, type Worker } from "./workers.js";

const LEASE = 500;
/** Generous: a 2-core machine running other test files may stall a store call; atomicity does not depend on it. */
const STORE_TIMEOUT = 5_000;

/**
 * The backends, one line each. A backend runs when its store has `saveStep`; `local` adds the `step.local` case
 * (its workers write through a pg client).
 */
const backends: { backend: () => Backend; store: { prototype: object }; local?: true }[] = [
  { backend: sqliteBackend, store: SqliteStore },
  { backend: postgresBackend, store: PostgresStore, local: true },
  { backend: redisBackend, store: RedisStore },
  { backend: mysqlBackend, store: MySqlStore },
  { backend: dynamodbBackend, store: DynamoDbStore },
];

let payments: PaymentService;
beforeAll(async () => {
  payments = await startPaymentService();
});
afterAll(async () => {
  await payments?.close();
});

/** Each order charges its own amount, so the payment service's records tell orders apart. */
let amounts = 1_000;
const order = () => ({ key: `order-${randomUUID()}`, amount: ++amounts });
const chargesOf = (amount: number) => payments.charges.filter((charge) => charge.amount === amount);
const requestsOf = (amount: number) => payments.requests.filter((request) => request.amount === amount).length;

for (const { backend: make, store, local } of backends) {
  const backend = make();
  const records = typeof (store.prototype as { saveStep?: unknown }).saveStep === "function";
  const available = records && (backend.service === undefined || (await serviceAvailable(backend.service)));
  const title = `${backend.name}: killed workers resume their runs`;
  const why = records ? "server not reachable" : "its store has no saveStep yet";

  describe.skipIf(!available)(available ? title : `${title} (${why})`, () => {
    const dir = mkdtempSync(join(tmpdir(), "oncely-steps-crash-"));
    const ledgerFile = join(dir, "ledger.jsonl");
    const localTable = `oncely_steps_local_${randomUUID().slice(0, 8)}`;
    const pool = local ? new pg.Pool({ connectionString: services.postgres.url, max: 2 }) : undefined;
    let a: Worker;
    let b: Worker;
    /** Workers that will be killed, one per crash. */
    let doomed: Worker[] = [];
    let all: Worker[] = [];

    beforeAll(async () => {
      const config: WorkerConfig = {
        store: await backend.setUp(),
        ledger: ledgerFile,
        payments: payments.origin,
        lease: LEASE,
        storeTimeout: STORE_TIMEOUT,
      };
      await pool?.query(`CREATE TABLE "${localTable}" (key TEXT NOT NULL, pid INTEGER NOT NULL)`);
      all = await forkWorkers(config, local ? 8 : 7);
      [a, b, ...doomed] = all as [Worker, Worker, ...Worker[]];
    }, 90_000);

    afterAll(async () => {
      await Promise.all(all.map((worker) => worker.stop()));
      await backend.tearDown();
      await pool?.query(`DROP TABLE IF EXISTS "${localTable}"`);
      await pool?.end();
      rmSync(dir, { recursive: true, force: true });
    });

    /** The step runs of `key`, in order, as `step@who` (who: the pid's name) with `(resumed)` where it was. */
    const ledger = (key: string, names: Record<number, string>) =>
      readFileSync(ledgerFile, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as LedgerEntry)
        .filter((entry) => entry.key === key)
        .map((entry) => `${entry.step}@${names[entry.pid] ?? entry.pid}${entry.resumed ? " (resumed)" : ""}`);

    it("resumes a run killed after each step in turn, or inside the charge, at the next step; one charge each", async () => {
      const crashes: CrashPoint[] = ["after-reserve", "inside-charge", "after-charge", "after-email"];
      const orders = crashes.map((crash, index) => ({ ...order(), crash, worker: doomed[index]! }));
      const signals = await Promise.all(
        orders.map(({ worker, key, amount, crash }) => worker.crash({ key, amount, crash, handler: "checkout" })),
      );
      expect(signals).toEqual(crashes.map(() => "SIGKILL"));
      // The retries come at once, while the dead holders' leases still run: they wait for them to lapse.
      const results = await Promise.all(orders.map(({ key, amount }) => a.run({ key, amount, handler: "checkout" })));
      const expected: Record<CrashPoint, string[]> = {
        "after-reserve": ["reserve@dead", "charge@retry", "email@retry"],
        "inside-charge": ["reserve@dead", "charge@dead", "charge@retry (resumed)", "email@retry"],
        "after-charge": ["reserve@dead", "charge@dead", "email@retry"],
        "after-email": ["reserve@dead", "charge@dead", "email@dead"],
        "inside-local": [],
      };
      for (const [index, { key, amount, crash, worker }] of orders.entries()) {
        const charges = chargesOf(amount);
        expect(charges, crash).toHaveLength(1);
        expect(results[index], crash).toEqual({
          result: {
            hold: `h-${key}`,
            charge: charges[0]!.id,
            amount,
            messageId: expect.stringMatching(/^<oncely-step-/),
          },
        });
        expect(ledger(key, { [worker.pid]: "dead", [a.pid]: "retry" }), crash).toEqual(expected[crash]);
        // The dead worker's charge request and the resumed step's retry of it: one charge.
        expect(requestsOf(amount), crash).toBe(crash === "inside-charge" ? 2 : 1);
        expect((await b.steps(key))?.map((step) => `${step.name}:${step.state}`)).toEqual([
          "reserve:done",
          "charge:done",
          "email:done",
        ]);
        // Completed: another process's retry replays the result and runs nothing.
        expect(await b.run({ key, amount, handler: "checkout" })).toEqual(results[index]);
        expect(ledger(key, { [worker.pid]: "dead", [a.pid]: "retry" })).toEqual(expected[crash]);
      }
    });

    it("reruns a step that threw, and only that step, on the next attempt", async () => {
      const { key, amount } = order();
      const failed = await a.run({ key, amount, handler: "checkout", failEmail: true });
      expect(failed.error).toMatchObject({ name: "Error", message: "the mail server is down" });
      const retried = await b.run({ key, amount, handler: "checkout" });
      expect(retried.result).toMatchObject({ hold: `h-${key}`, charge: chargesOf(amount)[0]?.id });
      expect(chargesOf(amount)).toHaveLength(1);
      expect(ledger(key, { [a.pid]: "a", [b.pid]: "b" })).toEqual([
        "reserve@a",
        "charge@a",
        "email@a",
        "email@b (resumed)",
      ]);
    });

    it("gives a terminal error back on every retry, from any process, without running the step again", async () => {
      const { key, amount } = order();
      const declined = await a.run({ key, amount, handler: "checkout", decline: true });
      expect(declined.error).toEqual({ name: "TerminalError", message: "card declined", replayed: false });
      for (const worker of [b, a]) {
        // Even with the card fixed: the run's recorded outcome is the decline.
        const replayed = await worker.run({ key, amount, handler: "checkout" });
        expect(replayed.error).toEqual({ name: "TerminalError", message: "card declined", replayed: true });
      }
      expect(ledger(key, { [a.pid]: "a" })).toEqual(["reserve@a", "charge@a"]);
      expect(requestsOf(amount)).toBe(1);
      expect(chargesOf(amount)).toHaveLength(0);
      expect((await a.steps(key))?.map((step) => `${step.name}:${step.state}`)).toEqual([
        "reserve:done",
        "charge:failed",
      ]);
    });

    it("refuses a changed handler with StepMismatchError, and still resumes the unchanged one", async () => {
      const { key, amount } = order();
      expect((await a.run({ key, amount, handler: "checkout", failEmail: true })).error?.name).toBe("Error");
      const changed = await b.run({ key, amount, handler: "checkout-v2" });
      expect(changed.error).toMatchObject({ name: "StepMismatchError", code: "step_mismatch" });
      const resumed = await b.run({ key, amount, handler: "checkout" });
      expect(resumed.result).toMatchObject({ charge: chargesOf(amount)[0]?.id });
      expect(ledger(key, { [a.pid]: "a", [b.pid]: "b" })).toEqual([
        "reserve@a",
        "charge@a",
        "email@a",
        "email@b (resumed)",
      ]);
      expect(chargesOf(amount)).toHaveLength(1);
    });

    it("records one result per step when two retries race to take over a dead run", async () => {
      const { key, amount } = order();
      const dead = doomed[4]!;
      expect(await dead.crash({ key, amount, handler: "checkout", crash: "inside-charge" })).toBe("SIGKILL");
      const [first, second] = await Promise.all([
        a.run({ key, amount, handler: "checkout" }),
        b.run({ key, amount, handler: "checkout" }),
      ]);
      expect(first.error).toBeUndefined();
      expect(second).toEqual(first);
      expect(chargesOf(amount)).toHaveLength(1);
      const runs = ledger(key, { [dead.pid]: "dead", [a.pid]: "retry", [b.pid]: "retry" });
      expect(runs).toEqual(["reserve@dead", "charge@dead", "charge@retry (resumed)", "email@retry"]);
      const steps = await a.steps(key);
      expect(steps?.map((step) => `${step.name}:${step.state}`)).toEqual(["reserve:done", "charge:done", "email:done"]);
      expect(JSON.parse(steps![1]!.value!)).toEqual({ id: chargesOf(amount)[0]!.id, amount });
    });

    it.runIf(local)(
      "leaves neither the write nor the checkpoint of a step.local killed before its commit",
      async () => {
        const { key, amount } = order();
        const dead = doomed[5]!;
        const command = { key, amount, handler: "local" as const, localTable };
        expect(await dead.crash({ ...command, crash: "inside-local" })).toBe("SIGKILL");
        const rows = async () => (await pool!.query(`SELECT pid FROM "${localTable}" WHERE key = $1`, [key])).rows;
        expect(await rows()).toEqual([]);
        expect(await a.steps(key)).toEqual([]);
        const retried = await a.run(command);
        expect(retried.result).toEqual({ hold: `h-${key}`, charge: chargesOf(amount)[0]?.id });
        expect(await rows()).toEqual([{ pid: a.pid }]);
        expect(ledger(key, { [dead.pid]: "dead", [a.pid]: "retry" })).toEqual([
          "reserve@dead",
          "reserve@retry",
          "charge@retry",
        ]);
        expect((await b.run(command)).result).toEqual(retried.result);
        expect(await rows()).toHaveLength(1);
      },
    );
  });
}
