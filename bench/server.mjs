// One benchmark app in its own process, so the load generator does not share its event loop. Plain JavaScript
// over the built package (`npm run build`), so no TypeScript loader sits on the measured path.
import { createServer } from "node:http";
import { serve } from "@hono/node-server";
import express from "express";
import { Hono } from "hono";
import { idempotency as expressIdempotency } from "../dist/http/express.js";
import { idempotency as honoIdempotency } from "../dist/http/hono.js";
import { createIdempotency } from "../dist/index.js";
import { otherLibraries } from "./other-libraries.mjs";
import { createStore } from "./stores.mjs";

// `store` is "bare" for the app without oncely, or the name of another library (bench/other-libraries.mjs), which
// then guards the Express app in oncely's place.
const [framework, storeName] = process.argv.slice(2);
const other = otherLibraries[storeName]?.();
const opened = storeName === "bare" || other ? undefined : await createStore(storeName);
// Replays hammer one key on purpose here, so the per-key rate limit is off. A short ttl lets what the networked
// stores keep expire on its own.
const idem = opened ? createIdempotency({ store: opened.store, rateLimit: false, ttl: "5m" }) : undefined;
let n = 0;
const charge = (body) => ({ id: `ch_${++n}`, amount: body?.amount ?? 0, currency: "eur" });

let server;
if (framework === "express") {
  const guard = other ? [other.middleware] : idem ? [expressIdempotency(idem)] : [];
  const app = express();
  app.post("/charges", express.json(), ...guard, (req, res) => {
    if (!other?.answered(req)) res.status(201).json(charge(req.body));
  });
  server = createServer(app).listen(0, "127.0.0.1");
} else {
  const app = new Hono();
  if (idem) app.use("/charges", honoIdempotency(idem));
  app.post("/charges", async (c) => c.json(charge(await c.req.json()), 201));
  server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
}
// Port 0: the system picks a free one (a random pick can meet a port the load generator's sockets still hold).
server.on("listening", () => process.send?.({ port: server.address().port }));
process.on("disconnect", async () => {
  server.close();
  await opened?.cleanup().catch((error) => console.error(`cleanup of ${storeName} failed: ${error.message}`));
  process.exit(0);
});
