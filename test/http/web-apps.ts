import { Hono } from "hono";
import { withIdempotency as fetchIdempotency } from "../../src/adapters/fetch/index.js";
import { idempotency as honoIdempotency } from "../../src/adapters/hono/index.js";
import type { Idempotency } from "../../src/core/engine.js";
import type { RouteSpec, SpecResponse } from "./app-spec.js";

// The spec routes as fetch handlers (Request in, Response out), on web APIs only: Node.js serves them through
// @hono/node-server (apps.ts), and Bun, Deno and workerd serve them natively (test/runtimes/).

/** The routes as a Hono app (no server). */
export function honoApp(idem: Idempotency, routes: RouteSpec[]): Hono {
  const app = new Hono();
  for (const route of routes) {
    app.on(route.method, route.path, honoIdempotency(idem, route.options), async (c) =>
      toWebResponse(
        await route.handle({ body: new Uint8Array(await c.req.arrayBuffer()), context: c.get("idempotency") }),
      ),
    );
  }
  app.onError((_error, c) => c.text("internal error", 500));
  return app;
}

/** The routes behind `oncely/fetch`'s `withIdempotency`, routed by hand: no framework is involved. */
export function fetchApp(idem: Idempotency, routes: RouteSpec[]): (request: Request) => Promise<Response> {
  const handlers = new Map(
    routes.map((route) => [
      `${route.method} ${route.path}`,
      fetchIdempotency(
        idem,
        async (request, context) =>
          toWebResponse(await route.handle({ body: new Uint8Array(await request.arrayBuffer()), context })),
        route.options,
      ),
    ]),
  );
  return async (request) => {
    const handler = handlers.get(`${request.method} ${new URL(request.url).pathname}`);
    if (!handler) return new Response(null, { status: 404 });
    try {
      return await handler(request);
    } catch {
      return new Response("internal error", { status: 500 });
    }
  };
}

export function toWebResponse(out: SpecResponse): Response {
  const headers = new Headers();
  for (const [name, value] of out.headers) headers.append(name, value);
  const empty = out.status === 204 || out.body.length === 0;
  return new Response(empty ? null : (out.body as BodyInit), { status: out.status, headers });
}
