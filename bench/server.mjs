// One benchmark app in its own process, so the load generator does not share its event loop. Plain JavaScript
// over the built package (`npm run build`), so no TypeScript loader sits on the measured path.
import { createServer } from "node:http";
import { serve } from "@hono/node-server";
import express from "express";
import { Hono } from "hono";
import { idempotency as expressIdempotency } from "../dist/http/express.js";
import { idempotency as honoIdempotency } from "../dist/http/hono.js";
import { createIdempotency, MemoryStore } from "../dist/index.js";

const [framework, guarded, port] = process.argv.slice(2);
// Replays hammer one key on purpose here, so the per-key rate limit is off.
const idem =
  guarded === "oncely"
    ? createIdempotency({ store: new MemoryStore({ maxEntries: 1_000_000 }), rateLimit: false })
    : undefined;
let n = 0;
const charge = (body) => ({ id: `ch_${++n}`, amount: body?.amount ?? 0, currency: "eur" });

let server;
if (framework === "express") {
  const app = express();
  app.post("/charges", express.json(), ...(idem ? [expressIdempotency(idem)] : []), (req, res) => {
    res.status(201).json(charge(req.body));
  });
  server = createServer(app).listen(Number(port), "127.0.0.1");
} else {
  const app = new Hono();
  if (idem) app.use("/charges", honoIdempotency(idem));
  app.post("/charges", async (c) => c.json(charge(await c.req.json()), 201));
  server = serve({ fetch: app.fetch, port: Number(port), hostname: "127.0.0.1" });
}
server.on("listening", () => process.send?.("ready"));
process.on("disconnect", () => process.exit(0));
