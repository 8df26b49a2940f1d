import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { withIdempotency } from "../../src/http/fetch.js";
import { describeHttpSemantics } from "./semantics.js";
import { listen, toWebResponse } from "./servers.js";

describeHttpSemantics("fetch", async (idem, routes) => {
  const handlers = new Map(
    routes.map((route) => [
      `${route.method} ${route.path}`,
      withIdempotency(
        idem,
        async (request, context) =>
          toWebResponse(await route.handle({ body: new Uint8Array(await request.arrayBuffer()), context })),
        route.options,
      ),
    ]),
  );
  // @hono/node-server only turns node:http into fetch Requests here; no Hono routing is involved.
  const server = createAdaptorServer({
    fetch: async (request: Request) => {
      const handler = handlers.get(`${request.method} ${new URL(request.url).pathname}`);
      if (!handler) return new Response(null, { status: 404 });
      try {
        return await handler(request);
      } catch {
        return new Response("internal error", { status: 500 });
      }
    },
  }) as Server;
  return listen(server);
});
