import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";
import { idempotency } from "../../src/http/hono.js";
import { describeHttpSemantics } from "./semantics.js";
import { listen, toWebResponse } from "./servers.js";

describeHttpSemantics("hono", async (idem, routes) => {
  const app = new Hono();
  for (const route of routes) {
    app.on(route.method, route.path, idempotency(idem, route.options), async (c) =>
      toWebResponse(
        await route.handle({ body: new Uint8Array(await c.req.arrayBuffer()), context: c.get("idempotency") }),
      ),
    );
  }
  app.onError((_error, c) => c.text("internal error", 500));
  return listen(createAdaptorServer({ fetch: app.fetch }) as Server);
});
