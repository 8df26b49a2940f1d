// One benchmark app in its own process, so the load generator does not share its event loop. Plain JavaScript
// over the built package (`npm run build`), so no TypeScript loader sits on the measured path.
//
// Arguments: the framework (express, fastify, hono), what guards the app ("bare" for nothing, "oncely", or the name of
// a peer from bench/peers.mjs) and the store it runs on (a name bench/stores.mjs knows for oncely; memory or redis
// for a peer; ignored for the bare app). Sends `{ port }` over IPC once it listens; a startup failure exits non-zero.
import { createServer } from "node:http";
import { serve } from "@hono/node-server";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { idempotency as expressIdempotency } from "../dist/adapters/express/index.js";
import { idempotency as fastifyIdempotency } from "../dist/adapters/fastify/index.js";
import { idempotency as honoIdempotency } from "../dist/adapters/hono/index.js";
import { createIdempotency } from "../dist/index.js";
import { peers } from "./peers.mjs";
import { createStore } from "./stores.mjs";

const [framework, guard, storeName] = process.argv.slice(2);
const peer = guard === "bare" || guard === "oncely" ? undefined : peers[guard];
if (peer === undefined && guard !== "bare" && guard !== "oncely") throw new Error(`unknown guard ${guard}`);
if (peer && peer.framework !== framework) throw new Error(`${guard} guards ${peer.framework}, not ${framework}`);
const mounted = await peer?.setup(storeName);
const opened = guard === "oncely" ? await createStore(storeName) : undefined;
// Replays hammer one key on purpose here, so the per-key rate limit is off. A short ttl lets what the networked
// stores keep expire on its own.
// BENCH_STORE_TIMEOUT (ms): longer store timeouts for an app slowed down under valgrind (bench/http-instructions.mjs).
const storeTimeout = process.env.BENCH_STORE_TIMEOUT ? Number(process.env.BENCH_STORE_TIMEOUT) : undefined;
const idem = opened
  ? createIdempotency({ store: opened.store, rateLimit: false, ttl: "5m", ...(storeTimeout ? { storeTimeout } : {}) })
  : undefined;
let n = 0;
const charge = (body) => ({ id: `ch_${++n}`, amount: body?.amount ?? 0, currency: "eur" });

/** The node:http server the framework listens with, once it listens. */
async function listen() {
  if (framework === "express") {
    const guards = mounted?.handlers ?? (idem ? [expressIdempotency(idem)] : []);
    const app = express();
    app.post("/charges", express.json(), ...guards, (req, res) => {
      if (!mounted?.answered(req)) res.status(201).json(charge(req.body));
    });
    return createServer(app).listen(0, "127.0.0.1");
  }
  if (framework === "fastify") {
    const app = Fastify();
    if (idem) await app.register(fastifyIdempotency(idem));
    if (mounted) await mounted.register(app);
    app.post("/charges", async (request, reply) => {
      reply.code(201);
      return charge(request.body);
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    return app.server;
  }
  if (framework === "hono") {
    const app = new Hono();
    const middleware = mounted?.middleware ?? (idem ? honoIdempotency(idem) : undefined);
    if (middleware) app.use("/charges", middleware);
    app.post("/charges", async (c) => c.json(charge(await c.req.json()), 201));
    return serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  }
  throw new Error(`unknown framework ${framework}`);
}

const server = await listen();
// Port 0: the system picks a free one (a random pick can meet a port the load generator's sockets still hold).
const announce = () => process.send?.({ port: server.address().port });
if (server.listening) announce();
else server.once("listening", announce);
process.on("disconnect", async () => {
  server.close();
  await opened?.cleanup().catch((error) => console.error(`cleanup of ${storeName} failed: ${error.message}`));
  process.exit(0);
});
