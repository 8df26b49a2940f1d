import { createServer, type Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import Router from "@koa/router";
import Koa, { type Context } from "koa";
import { idempotency as koaIdempotency } from "../../src/adapters/koa/index.js";
import { withIdempotency as nodeIdempotency } from "../../src/adapters/node/index.js";
import type { IdempotencyContext } from "../../src/index.js";
import type { RouteSpec, SpecResponse, StartServer } from "./app-spec.js";
import { listen, readStream, serveNode, writeNode } from "./servers.js";
import { fetchApp, honoApp } from "./web-apps.js";

// The spec routes served by the adapters that need no body parser in front: the semantics suite and the fuzz test
// both start them from here. Each handler reads the body the adapter left readable.

export const startHono: StartServer = async (idem, routes) =>
  listen(createAdaptorServer({ fetch: honoApp(idem, routes).fetch }) as Server);

/** Each route's handler under "METHOD /path", for the servers below that route by hand. */
function byRoute<H>(routes: RouteSpec[], wrap: (route: RouteSpec) => H): Map<string, H> {
  return new Map(routes.map((route) => [`${route.method} ${route.path}`, wrap(route)]));
}

export const startFetch: StartServer = async (idem, routes) =>
  // @hono/node-server only turns node:http into fetch Requests here; no Hono routing is involved.
  listen(createAdaptorServer({ fetch: fetchApp(idem, routes) }) as Server);

export const startNode: StartServer = async (idem, routes) => {
  const handlers = byRoute(routes, (route) =>
    nodeIdempotency(
      idem,
      async (req, res, context) => writeNode(res, await route.handle({ body: await readStream(req), context })),
      route.options,
    ),
  );
  return serveNode((req, res) => {
    const handler = handlers.get(`${req.method} ${(req.url ?? "/").split("?")[0]}`);
    if (!handler) {
      res.statusCode = 404;
      return res.end();
    }
    handler(req, res).catch(() => {
      if (!res.headersSent) res.statusCode = 500;
      res.end();
    });
  });
};

export const startKoa: StartServer = async (idem, routes) => {
  const app = new Koa();
  app.silent = true;
  const router = new Router();
  for (const route of routes) {
    router[route.method.toLowerCase() as "post"](route.path, koaIdempotency(idem, route.options), async (ctx) => {
      const context: IdempotencyContext | undefined = ctx.state.idempotency;
      respondKoa(ctx, await route.handle({ body: await readStream(ctx.req), context }));
    });
  }
  app.use(router.routes());
  return listen(createServer(app.callback()));
};

function respondKoa(ctx: Context, out: SpecResponse) {
  ctx.status = out.status;
  const grouped = new Map<string, string[]>();
  for (const [name, value] of out.headers) grouped.set(name, [...(grouped.get(name) ?? []), value]);
  for (const [name, values] of grouped) ctx.set(name, values.length === 1 ? values[0]! : values);
  ctx.body = typeof out.body === "string" ? out.body : Buffer.from(out.body);
}
