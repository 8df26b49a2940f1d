/**
 * One of the four processes of the multi-process test: a real HTTP server on 127.0.0.1 whose one guarded route
 * records every run of its handler. The parent forks it, compiled (test/support/bundled-script.ts), and talks to it
 * over IPC (protocol.ts).
 */
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { withIdempotency } from "../../src/adapters/node/index.js";
import { createIdempotency } from "../../src/index.js";
import {
  type Execution,
  type HandlerBody,
  type ParentMessage,
  WORKER_CONFIG_ENV,
  type WorkerConfig,
  type WorkerMessage,
} from "./protocol.js";
import { openStore } from "./store-config.js";

const send = (message: WorkerMessage) =>
  new Promise<void>((resolve, reject) =>
    process.send!(message, undefined, {}, (error) => (error ? reject(error) : resolve())),
  );

const config = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? "null") as WorkerConfig | null;
if (!config || !process.send)
  throw new Error(`worker.ts is started by the multi-process test, with ${WORKER_CONFIG_ENV}`);

// An orphaned worker (the parent crashed or was killed) must not linger.
process.on("disconnect", () => process.exit(1));

let executions: Execution[] = [];
const events: Record<string, number> = {};

const idem = createIdempotency({
  store: openStore(config.store, config.storeTimeout),
  storeTimeout: config.storeTimeout,
  required: true,
  // The limiter is per process and per key: it would answer 429 to the 250 duplicates each worker gets in the
  // one-key storm. The test is about the store's atomicity across processes, not about rate limiting.
  rateLimit: false,
  onEvent: (event) => {
    events[event.type] = (events[event.type] ?? 0) + 1;
  },
});

const server = createServer(
  withIdempotency(idem, async (req, res, idempotency) => {
    if (!idempotency) {
      // Not one of the test's requests, which are all guarded POSTs with a key: other tests on this machine retry
      // against ports they closed, and this server may have been given one. Answered, never counted; if one of the
      // test's own requests got here, its answer (421) fails the test's checks.
      console.error(`[multiprocess] worker ${config.worker}: unguarded ${req.method} ${req.url}, answered 421`);
      res.writeHead(421).end();
      return;
    }
    // The effect being counted happens here, once per run of the handler.
    executions.push({ key: idempotency.key, pid: process.pid });
    for await (const _ of req); // the body was fingerprinted; this handler has no use for it
    await sleep(config.handlerMs); // the handler's own work, so duplicates arrive while the claim is held
    const body: HandlerBody = { key: idempotency.key, worker: config.worker, pid: process.pid };
    res.writeHead(201, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }),
);
// Keep-alive sockets from the parent's pools outlive a test by a few seconds at most; never hold a request up.
server.keepAliveTimeout = 10_000;

process.on("message", async (message: ParentMessage) => {
  if (message.type === "drain") {
    const drained = executions;
    executions = [];
    await send({ type: "drained", executions: drained, events: { ...events } });
    for (const type of Object.keys(events)) delete events[type];
  } else if (message.type === "stop") {
    server.closeAllConnections();
    server.close();
    await idem.close();
    await send({ type: "stopped" });
    process.exit(0);
  }
});

try {
  // Opens the connection (or file, creating its table) before any request arrives.
  await idem.store.get("warm-up");
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  await send({ type: "ready", port: (server.address() as AddressInfo).port, pid: process.pid });
} catch (error) {
  await send({ type: "failed", message: (error as Error).stack ?? String(error) });
  process.exit(1);
}
