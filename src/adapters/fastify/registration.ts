import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions as FastifyRouteOptions } from "fastify";
import { unguardedRouteRefusal } from "../shared/unguarded-route.js";
import { sendFastifyResponse } from "./reply.js";

/*
 * Fastify tells a plugin about a route only as the route is declared (`onRoute`). A route declared before oncely's
 * plugin has run (`app.register(idempotency(idem))` without `await`, then `app.post(...)`; or oncely registered after
 * the route) is never seen, and would answer every retry by running its handler again. An instance-level hook,
 * unlike `onRoute`, reaches every route of its instance whenever it was declared: oncely adds one, and at `onReady`
 * reads Fastify's route list (`printRoutes({ includeHooks: true })`, which names each route's hooks) for routes that
 * carry it but were never seen. Where that list cannot show hooks (a custom `buildPrettyMeta`), the hook itself
 * refuses such a route's requests with a 500 problem and one log line.
 */

/** Set on the config of every route oncely saw, for the request-time check. */
const SEEN = Symbol("oncely.seen");

/**
 * Marks every route oncely saw. The marker is an `onError` hook, which Fastify only calls when a request fails, so it
 * costs nothing per request yet shows in the route list. (An `onTimeout` hook, the first choice, costs a socket
 * listener added and removed per request on Fastify 5, and on Fastify 4 holds the last request of a keep-alive
 * socket, objects that then outlive the young generation.)
 */
function oncelySawRoute(_request: FastifyRequest, _reply: FastifyReply, _error: Error, done: () => void) {
  done();
}

let registrations = 0;

/** Records that oncely saw `route` (guarded or opted out): call it from the `onRoute` hook. */
export function markSeen(route: FastifyRouteOptions): void {
  // A route of a child plugin is seen by every registration above it too: one mark is enough.
  if ((route.config as Record<symbol, unknown> | undefined)?.[SEEN]) return;
  route.config = { ...route.config, [SEEN]: true } as typeof route.config;
  const errorHooks = route.onError;
  route.onError = [
    ...(errorHooks === undefined ? [] : Array.isArray(errorHooks) ? errorHooks : [errorHooks]),
    oncelySawRoute,
  ];
}

/**
 * Makes one registration of the plugin refuse the routes of its instance that it never saw and that `methods` would
 * guard: `ready()` rejects naming them, or, where Fastify's route list cannot tell, their requests are refused.
 */
export function refuseUnseenRoutes(instance: FastifyInstance, methods: ReadonlySet<string>): void {
  // One name per registration: a route carries the hook of every registration whose instance it belongs to.
  const hookName = `oncelyRouteCheck${++registrations}`;
  const refuseUnguarded = unguardedRouteRefusal();
  let checkedAtStartup = false;
  const check = {
    [hookName](request: FastifyRequest, reply: FastifyReply, done: () => void) {
      if (checkedAtStartup || !methods.has(request.method) || request.is404) return done();
      const config = routeConfig(request);
      if (config?.[SEEN] || config?.idempotency === false) return done();
      const route = `${request.method} ${config?.url ?? request.url}`;
      sendFastifyResponse(reply, refuseUnguarded(route, unseenMessage([route])));
    },
  }[hookName] as (request: FastifyRequest, reply: FastifyReply, done: () => void) => void;
  instance.addHook("onRequest", check);
  instance.addHook("onReady", async function oncelyCheckRoutes() {
    const listed = listRoutes(instance.printRoutes({ includeHooks: true, commonPrefix: false }));
    const mine = listed.filter((route) => route.hooks.includes(`${hookName}()`));
    checkedAtStartup = mine.length > 0;
    const unseen = mine
      .filter((route) => !route.hooks.includes(`${oncelySawRoute.name}()`))
      .flatMap((route) =>
        route.methods.filter((method) => methods.has(method)).map((method) => `${method} ${route.url}`),
      );
    if (unseen.length > 0) throw new Error(unseenMessage(unseen));
  });
}

function unseenMessage(routes: string[]): string {
  return (
    `oncely never saw ${routes.join(", ")}: ${routes.length === 1 ? "it was" : "they were"} declared before ` +
    "oncely's plugin ran, so retries would run the handler again. Write `await app.register(idempotency(idem))` " +
    "before declaring routes in the same plugin (routes in plugins registered after it are covered either way); " +
    "to leave a route unguarded on purpose, declare it after oncely with `config: { idempotency: false }`, or in a " +
    "plugin oncely is not registered in."
  );
}

/** The route's config: `routeOptions.config` since Fastify 4.10, `routeConfig` before. */
function routeConfig(request: FastifyRequest): Record<string | symbol, unknown> | undefined {
  const legacy = request as unknown as { routeConfig?: Record<string | symbol, unknown> };
  return (
    (request.routeOptions?.config as unknown as Record<string | symbol, unknown> | undefined) ?? legacy.routeConfig
  );
}

interface ListedRoute {
  url: string;
  methods: string[];
  /** Every hook of the route, as printed: `name()`. */
  hooks: string[];
}

// `├── /charges (POST, PUT) {"version":"1.0.0"}`: the tree drawing (4 characters a level, the first level included),
// the path (relative to the route one level up, whose path it extends), the methods, then constraints. Another route
// on the same path (HEAD beside GET) is printed below it without a branch, at the same level.
const ROUTE_LINE = /^((?:[│├└─ ]{4})*)(\S.*?) \(([A-Z]+(?:, [A-Z]+)*)\)(?: \{.*\})?$/;
// `│   • (onRequest) ["auth()","oncelyRouteCheck1()"]`
const HOOK_LINE = /^[│ ]*• \(\w+\) (\[.*\])$/;

/** Reads `printRoutes({ includeHooks: true, commonPrefix: false })`: each route's full path, methods and hooks. */
function listRoutes(text: string): ListedRoute[] {
  const routes: ListedRoute[] = [];
  const pathAtDepth: string[] = [];
  for (const line of text.split("\n")) {
    const route = ROUTE_LINE.exec(line);
    if (route) {
      const depth = Math.max(0, (route[1] ?? "").length / 4 - 1);
      const url = (depth === 0 ? "" : (pathAtDepth[depth - 1] ?? "")) + route[2];
      pathAtDepth[depth] = url;
      routes.push({ url, methods: (route[3] ?? "").split(", "), hooks: [] });
      continue;
    }
    const hooks = HOOK_LINE.exec(line);
    const current = routes.at(-1);
    if (hooks && current) current.hooks.push(...(JSON.parse(hooks[1] ?? "[]") as string[]));
  }
  return routes;
}
