/**
 * One of the crash storm's four processes: a real HTTP server on 127.0.0.1 with its own engine on the shared store,
 * whose one guarded route writes one ledger row per run of its handler (the effect the storm counts). The parent
 * bundles this file (fleet.ts) and forks it; the process opens its store and ledger, says `warm`, and listens once
 * told which port (a killed worker's replacement is started ahead, as a warm spare, and takes the dead one's port).
 * The parent arms kill points over IPC (protocol.ts) and kills it with SIGKILL.
 */
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { withIdempotency } from "../../../src/adapters/node/index.js";
import { createIdempotency } from "../../../src/index.js";
import { openStore } from "../../multiprocess/store-config.js";
import { chaosStore } from "./chaos-store.js";
import { killSwitch } from "./kill-switch.js";
import { insertEffect } from "./ledger.js";
import {
  type EffectBody,
  type ParentMessage,
  STORM_WORKER_ENV,
  type StormWorkerConfig,
  type WorkerMessage,
} from "./protocol.js";
import { windowWriter } from "./window-log.js";

const send = (message: WorkerMessage) =>
  new Promise<void>((resolve, reject) =>
    process.send!(message, undefined, {}, (error) => (error ? reject(error) : resolve())),
  );

const config = JSON.parse(process.env[STORM_WORKER_ENV] ?? "null") as StormWorkerConfig | null;
if (!config || !process.send) throw new Error(`worker.ts is started by the crash storm, with ${STORM_WORKER_ENV}`);

// An orphaned worker (the parent crashed or was killed) must not linger.
process.on("disconnect", () => process.kill(process.pid, "SIGKILL"));

const kill = killSwitch(config.logDir);
const windows = windowWriter(config.logDir, process.pid);
const store = chaosStore(openStore(config.store, config.storeTimeout), kill, windows);
// Outside transactional mode the effect is a write of its own, committed at once: what most handlers do.
const ledgerPool = config.transactional
  ? undefined
  : new pg.Pool({ connectionString: config.ledger.url, max: 4, connectionTimeoutMillis: config.storeTimeout });

const idem = createIdempotency({
  store,
  storeTimeout: config.storeTimeout,
  lease: config.lease,
  required: true,
  transactional: config.transactional,
  // Retries of one intent arrive at any of the four processes; the limiter is per process and not under test.
  rateLimit: false,
});

const server = createServer(
  withIdempotency(idem, async (req, res, idempotency) => {
    if (!idempotency) {
      res.writeHead(421).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const { intent } = JSON.parse(Buffer.concat(chunks).toString()) as { intent: number };
    const { key } = idempotency;
    kill.at("in-handler", key);
    const effect = randomUUID();
    windows.open(key, effect);
    const row = { key, intent, effect, pid: process.pid, slot: kill.slot };
    const client = config.transactional ? (idempotency.transaction as pg.PoolClient) : ledgerPool!;
    await insertEffect(client, config.ledger.table, row);
    const body: EffectBody = { intent, key, effect, pid: process.pid, slot: kill.slot };
    res.writeHead(201, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }),
);
server.keepAliveTimeout = 5_000;

let listen: (port: number) => void;
const port = new Promise<number>((resolve) => {
  listen = resolve;
});

process.on("message", async (message: ParentMessage) => {
  if (message.type === "listen") {
    kill.slot = message.slot;
    listen(message.port);
  } else if (message.type === "arm") kill.arm(message.point);
  else if (message.type === "disarm") kill.disarm();
  else if (message.type === "stop") {
    server.closeAllConnections();
    server.close();
    await Promise.allSettled([idem.close(), ledgerPool?.end()]);
    await send({ type: "stopped" });
    // Skips the runtime's exit teardown (better-sqlite3 on Node 24 can abort there; see test/multiprocess/worker.ts).
    process.kill(process.pid, "SIGKILL");
  }
});

try {
  // Opens the store's connection (or file) and the ledger's before the first request.
  await idem.store.get("warm-up");
  await ledgerPool?.query("SELECT 1");
  (globalThis as { gc?: () => void }).gc?.();
  await send({ type: "warm", pid: process.pid });
  const wanted = await port;
  // A restart takes its predecessor's port; the kernel frees a killed listener at once, but retry briefly anyway.
  for (let attempt = 0; ; attempt++) {
    try {
      server.listen(wanted, "127.0.0.1");
      await once(server, "listening");
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  await send({ type: "ready", port: (server.address() as AddressInfo).port, pid: process.pid });
} catch (error) {
  await send({ type: "failed", message: (error as Error).stack ?? String(error) });
  process.kill(process.pid, "SIGKILL");
}
