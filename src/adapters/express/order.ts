import type { Request } from "express";

/*
 * Express tells a middleware nothing when it is mounted, so `app.use(idempotency(idem))` written below the routes
 * cannot be refused at startup: their requests are answered before they reach it. What oncely can do is look at the
 * app's router the first time a request does reach it (a path no route answered, say) and name the routes mounted
 * above it. The router's `stack` of layers is how Express 4 (`app._router`) and 5 (`app.router`) keep the order.
 */

interface Layer {
  handle?: { stack?: Layer[] };
  route?: { path?: unknown; methods?: Record<string, boolean> };
}

/**
 * The routes (method and path) that the app answers before reaching `middleware`, among `methods`; empty when
 * `middleware` is not mounted on the app itself (on a route or in a sub-router, where order is the user's to see).
 */
export function routesMountedBefore(req: Request, middleware: unknown, methods: ReadonlySet<string>): string[] {
  const app = req.app as unknown as { _router?: { stack?: Layer[] }; router?: { stack?: Layer[] } } | undefined;
  // A connect-style router on plain node:http has no app to look at.
  if (app === undefined) return [];
  // Express 4's `app.router` getter throws (removed in 4.0); its router is `_router`.
  const stack = ("_router" in app ? app._router : app.router)?.stack ?? [];
  const position = stack.findIndex((layer) => layer.handle === middleware);
  if (position === -1) return [];
  return stack.slice(0, position).flatMap((layer) => routesOf(layer, methods));
}

function routesOf(layer: Layer, methods: ReadonlySet<string>): string[] {
  if (layer.route) {
    const path = String(layer.route.path);
    return Object.keys(layer.route.methods ?? {})
      .map((method) => method.toUpperCase())
      .filter((method) => methods.has(method))
      .map((method) => `${method} ${path}`);
  }
  // A router mounted above oncely answers its routes before oncely too.
  return (layer.handle?.stack ?? []).flatMap((inner) => routesOf(inner, methods));
}
