/**
 * One process of the crash test: an engine on the shared store, running the test's 3-step checkout with `idem.run`
 * when the parent asks (over IPC), and killing itself with SIGKILL at the point the parent names. Every step run is
 * appended to the ledger file before anything else happens, so the parent counts runs across crashes.
 */
import { appendFileSync } from "node:fs";
import type { PoolClient } from "pg";
import { hashParts } from "../../src/core/hash.js";
import { createIdempotency, type RunContext, TerminalError } from "../../src/index.js";
import type { StoreConfig } from "../multiprocess/store-config.js";
import {
  type CrashPoint,
  type LedgerEntry,
  type ParentMessage,
  type RunCommand,
  STEP_WORKER_ENV,
  type WorkerConfig,
  type WorkerMessage,
} from "./protocol.js";

const config = JSON.parse(process.env[STEP_WORKER_ENV] ?? "null") as WorkerConfig | null;
if (!config || !process.send) throw new Error(`worker.ts is started by the crash test, with ${STEP_WORKER_ENV}`);

// An orphaned worker (the parent crashed or was killed) must not linger.
process.on("disconnect", () => process.exit(1));

const send = (message: WorkerMessage) =>
  new Promise<void>((resolve, reject) =>
    process.send!(message, undefined, {}, (error) => (error ? reject(error) : resolve())),
  );

/** Opens the shared store, importing only its own module: a worker starts faster without the other drivers. */
async function openStore(store: StoreConfig, timeout: number) {
  switch (store.kind) {
    case "sqlite":
      return new (await import("../../src/stores/sqlite/index.js")).SqliteStore({ path: store.path, timeout });
    case "libsql":
      return new (await import("../../src/stores/libsql/index.js")).LibsqlStore({ url: store.url, timeout });
    case "redis": {
      const { RedisStore } = await import("../../src/stores/redis/index.js");
      return new RedisStore({ url: store.url, prefix: store.prefix, timeout });
    }
    case "redis-cluster": {
      const [{ RedisStore }, { Cluster }] = await Promise.all([
        import("../../src/stores/redis/index.js"),
        import("ioredis"),
      ]);
      return new RedisStore({ client: new Cluster(store.nodes), prefix: store.prefix, timeout });
    }
    case "postgres": {
      const { PostgresStore } = await import("../../src/stores/postgres/index.js");
      return new PostgresStore({ connectionString: store.connectionString, table: store.table, timeout });
    }
    case "mysql":
      return new (await import("../../src/stores/mysql/index.js")).MySqlStore({
        uri: store.uri,
        table: store.table,
        timeout,
      });
    case "dynamodb": {
      const { DynamoDbStore } = await import("../../src/stores/dynamodb/index.js");
      return new DynamoDbStore({ region: "us-east-1", endpoint: store.endpoint, table: store.table, timeout });
    }
    case "upstash": {
      const { UpstashStore } = await import("../../src/stores/upstash/index.js");
      return new UpstashStore({ url: store.url, token: store.token, prefix: store.prefix, timeout });
    }
  }
}

const idem = createIdempotency({
  store: await openStore(config.store, config.storeTimeout),
  storeTimeout: config.storeTimeout,
  lease: config.lease,
  rateLimit: false,
});

/** SIGKILL: no `finally`, no release of the claim, no flush; exactly what a crash leaves behind. */
function crash(): never {
  process.kill(process.pid, "SIGKILL");
  throw new Error("unreachable");
}

function ledger(command: RunCommand, step: string, resumed: boolean): void {
  const entry: LedgerEntry = { key: command.key, step, pid: process.pid, resumed };
  appendFileSync(config!.ledger, `${JSON.stringify(entry)}\n`);
}

async function charge(command: RunCommand, key: string, crashInside: boolean) {
  const response = await fetch(`${config!.payments}/charges`, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify({ amount: command.amount, decline: command.decline === true }),
  });
  const body = (await response.json()) as { id: string; amount: number } | { error: string };
  if (crashInside) crash();
  if (response.status === 402) throw new TerminalError("card declined", { details: body });
  if (!response.ok) throw new Error(`the payment service answered ${response.status}`);
  return body as { id: string; amount: number };
}

function handler(command: RunCommand) {
  const at = (point: CrashPoint) => {
    if (command.crash === point) crash();
  };
  return async (step: RunContext) => {
    let hold: { hold: string };
    if (command.handler === "local") {
      hold = await step.local("reserve", async (tx, s) => {
        ledger(command, "reserve", s.resumed);
        const client = tx as PoolClient;
        await client.query(`INSERT INTO "${command.localTable}" (key, pid) VALUES ($1, $2)`, [
          command.key,
          process.pid,
        ]);
        at("inside-local");
        return { hold: `h-${command.key}` };
      });
    } else {
      hold = await step("reserve", (s) => {
        ledger(command, "reserve", s.resumed);
        return { hold: `h-${command.key}` };
      });
    }
    at("after-reserve");
    const chargeStep = command.handler === "checkout-v2" ? "charge-v2" : "charge";
    const paid = await step(chargeStep, (s) => {
      ledger(command, chargeStep, s.resumed);
      return charge(command, s.key, command.crash === "inside-charge");
    });
    at("after-charge");
    if (command.handler === "local") return { ...hold, charge: paid.id };
    const email = await step("email", (s) => {
      ledger(command, "email", s.resumed);
      if (command.failEmail) throw new Error("the mail server is down");
      return { messageId: `<${s.key}@example.test>` };
    });
    at("after-email");
    return { ...hold, charge: paid.id, amount: paid.amount, ...email };
  };
}

process.on("message", async (message: ParentMessage) => {
  if (message.type === "run") {
    try {
      const result = await idem.run(message.key, handler(message), {
        name: "checkout",
        input: { amount: message.amount },
        // A retry that comes while the dead holder's lease still runs waits for it to lapse, then takes over.
        onInFlight: "wait",
        waitTimeout: 20_000,
      });
      await send({ type: "ran", ask: message.ask, result });
    } catch (error) {
      const { name, message: text, code, replayed } = error as Error & { code?: string; replayed?: boolean };
      await send({ type: "ran", ask: message.ask, error: { name, message: text, code, replayed } });
    }
  } else if (message.type === "record") {
    const record = await idem.store.get(hashParts(["oncely:id:v1", "", message.key]));
    await send({ type: "record", ask: message.ask, steps: record?.steps ?? null });
  } else if (message.type === "stop") {
    await idem.close();
    await send({ type: "stopped" });
    crash();
  }
});

try {
  // Opens the connection (or the file) before any run.
  await idem.store.get("warm-up");
  await send({ type: "ready", pid: process.pid });
} catch (error) {
  await send({ type: "failed", message: (error as Error).stack ?? String(error) });
  crash();
}
