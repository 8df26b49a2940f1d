import { createServer, type Server } from "node:http";
import { serve } from "@hono/node-server";
import express from "express";
import { Hono } from "hono";
import { idempotency as expressIdempotency } from "../src/http/express.js";
import { idempotency as honoIdempotency } from "../src/http/hono.js";
import { createIdempotency, type Idempotency, MemoryStore } from "../src/index.js";

export type Framework = "express" | "hono";

/** The benchmark's app: one POST route that answers a small JSON charge, with or without oncely in front. */
export function startApp(framework: Framework, guarded: boolean, port: number): Server {
  // Replays hammer one key on purpose here, so the per-key rate limit is off.
  const idem: Idempotency | undefined = guarded
    ? createIdempotency({ store: new MemoryStore({ maxEntries: 1_000_000 }), rateLimit: false })
    : undefined;
  let n = 0;
  const charge = (body: { amount?: number }) => ({ id: `ch_${++n}`, amount: body.amount ?? 0, currency: "eur" });

  if (framework === "express") {
    const app = express();
    const handlers = [express.json(), ...(idem ? [expressIdempotency(idem)] : [])];
    app.post("/charges", ...handlers, (req, res) => {
      res.status(201).json(charge(req.body));
    });
    return createServer(app).listen(port, "127.0.0.1");
  }
  const app = new Hono();
  if (idem) app.use("/charges", honoIdempotency(idem));
  app.post("/charges", async (c) => c.json(charge(await c.req.json()), 201));
  return serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }) as Server;
}
