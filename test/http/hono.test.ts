import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";
import type { Idempotency } from "../../src/core/engine.js";
import { idempotency } from "../../src/http/hono.js";
import type { RouteSpec } from "./app-spec.js";
import { describeHttpSemantics } from "./semantics.js";
import { listen, toWebResponse } from "./servers.js";

function honoApp(idem: Idempotency, routes: RouteSpec[]): Hono {
  const app = new Hono();
  for (const route of routes) {
    app.on(route.method, route.path, idempotency(idem, route.options), async (c) =>
      toWebResponse(
        await route.handle({ body: new Uint8Array(await c.req.arrayBuffer()), context: c.get("idempotency") }),
      ),
    );
  }
  app.onError((_error, c) => c.text("internal error", 500));
  return app;
}

describeHttpSemantics("hono", async (idem, routes) =>
  listen(createAdaptorServer({ fetch: honoApp(idem, routes).fetch }) as Server),
);

// As on Workers, Deno or Bun: no Node request in `c.env`, so the adapter reads the headers through Hono.
describeHttpSemantics("hono without Node bindings", async (idem, routes) => {
  const app = honoApp(idem, routes);
  return listen(createAdaptorServer({ fetch: (request: Request) => app.fetch(request) }) as Server);
});
