/**
 * The Fastify 4 and 5 plugin, with per-route `config.idempotency`.
 *
 * @module oncely/fastify
 */
import type { FastifyPluginCallback, FastifyReply, FastifyRequest, RouteOptions as FastifyRouteOptions } from "fastify";
import type { IdempotencyContext } from "../core/context.js";
import type { Idempotency, RouteGuard } from "../core/engine.js";
import { RequestTooLargeError } from "../core/errors.js";
import type { Decision, GuardInput } from "../core/guard.js";
import type { RouteOptions } from "../core/options.js";
import { markSeen, refuseUnseenRoutes } from "./fastify-registration.js";
import { capturePayload, lacksContentType, replaceReply, sendFastifyResponse } from "./fastify-reply.js";
import { headerPairs } from "./header-pairs.js";
import { readNodeBody } from "./node-body.js";
import { withParsedBody } from "./parsed-body.js";
import { bufferStream } from "./stream-body.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The request's idempotency context, set by `oncely/fastify` on guarded requests that run the handler. */
    idempotency?: IdempotencyContext;
  }
  interface FastifyContextConfig {
    /**
     * This route's idempotency options, over the plugin's; `false` leaves the route unguarded.
     * @example app.post("/charges", { config: { idempotency: { required: true, ttl: "1h" } } }, handler);
     */
    idempotency?: RouteOptions<FastifyRequest> | boolean;
  }
}

/** Route options whose `scope` and `fingerprint` get Fastify's `request` as `request.raw`. */
export type FastifyRouteIdempotency = RouteOptions<FastifyRequest>;

type Execution = Extract<Decision, { action: "execute" }>;

/**
 * What `onSend` must know about a guarded request: the handler's run to store; an answer oncely gave itself (never
 * stored; `bare` when it has no `Content-Type`, which Fastify would otherwise add to it); or that its response is
 * being stored right now.
 */
type Pending =
  /** `outer`: the headers set before the handler ran (CORS, a request id), kept when its reply is replaced. */
  | { kind: "execute"; execution: Execution; outer: ReturnType<FastifyReply["getHeaders"]> }
  | { kind: "answered"; bare: boolean }
  | { kind: "storing" };

const STORING: Pending = { kind: "storing" };

// Per request, from `preHandler` to `onSend`; a WeakMap leaves Fastify's request object shape alone.
const pending = new WeakMap<FastifyRequest, Pending>();

// The guard each route's hooks use, by the route options object every onRoute hook receives.
const guardedRoutes = new WeakMap<object, { guard: RouteGuard | undefined }>();

// Fastify's own `register` options, which are not oncely options.
const REGISTER_OPTION_NAMES = new Set(["prefix", "logLevel", "logSerializers"]);

/**
 * Fastify (4 and 5) plugin. It is not encapsulated (like `fastify-plugin`), so it guards the routes registered after
 * it in the instance it is registered on and in that instance's child plugins; `await` it before declaring routes in
 * the same plugin. A route of that instance declared before the plugin ran makes `ready()` reject, naming the route,
 * rather than run unguarded. Per-route options go in the route's
 * `config.idempotency` (merged over the plugin's; `false` opts a route out); they are checked when the route is
 * registered. The handler's own reply is stored, whether it returns a value or calls `reply.send()`; it is stored in
 * `onSend`, before a byte is written, so an immediate retry finds it.
 *
 * @example
 * import { idempotency } from "oncely/fastify";
 * await app.register(idempotency(idem));
 * app.post("/charges", { config: { idempotency: { required: true } } }, async (request, reply) => {
 *   reply.code(201);
 *   return createCharge(request.body, { idempotencyKey: request.idempotency?.deriveKey("psp") });
 * });
 */
export function idempotency(
  idem: Idempotency,
  options: FastifyRouteIdempotency = {},
): FastifyPluginCallback<FastifyRouteIdempotency> {
  const plugin: FastifyPluginCallback<FastifyRouteIdempotency> = function oncely(instance, registerOptions, done) {
    const base = { ...options, ...withoutRegisterOptions(registerOptions) } as RouteOptions;
    const instanceGuard = idem.route(base);
    if (!instance.hasRequestDecorator("idempotency")) instance.decorateRequest("idempotency", undefined);
    refuseUnseenRoutes(instance, instanceGuard.options.methods);
    instance.addHook("onRoute", (route) => {
      const config = route.config?.idempotency;
      if (config !== undefined && typeof config !== "boolean" && (typeof config !== "object" || config === null)) {
        throw new TypeError(
          `Expected \`config.idempotency\` of ${route.method} ${route.url} to be route options, true or false`,
        );
      }
      markSeen(route);
      if (config === false) return;
      const guard = typeof config === "object" ? idem.route({ ...base, ...(config as RouteOptions) }) : instanceGuard;
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const applies = methods.some((method) => guard.options.methods.has(method.toUpperCase()));
      // Registered again in a child plugin: one set of hooks per route (two would claim the key twice and answer
      // 409 to themselves), under the options of the innermost registration, whose onRoute hook runs last.
      const guarded = guardedRoutes.get(route);
      if (guarded) guarded.guard = applies ? guard : undefined;
      else if (applies) guardRoute(route, guard);
    });
    done();
  };
  // What fastify-plugin would set: skip encapsulation, a name for errors and `hasPlugin`, the supported versions.
  return Object.assign(plugin, {
    [Symbol.for("skip-override")]: true,
    [Symbol.for("fastify.display-name")]: "oncely",
    [Symbol.for("plugin-meta")]: { name: "oncely", fastify: "4.x || 5.x" },
  });
}

/**
 * Adds oncely's hooks to one route, after the route's own: `preHandler` runs once authentication and validation
 * hooks have (so `scope` can use what they set), and `onSend` sees the payload every other hook has finished with.
 */
function guardRoute(route: FastifyRouteOptions, guard: RouteGuard): void {
  const holder: { guard: RouteGuard | undefined } = { guard };
  guardedRoutes.set(route, holder);
  async function oncelyPreHandler(request: FastifyRequest, reply: FastifyReply) {
    const { guard } = holder;
    if (!guard) return;
    const decision = await guard.begin(fastifyInput(request));
    if (decision.action === "pass") return;
    if (decision.action === "respond") {
      pending.set(request, { kind: "answered", bare: lacksContentType(decision.response) });
      return sendFastifyResponse(reply, decision.response);
    }
    request.idempotency = decision.context;
    pending.set(request, { kind: "execute", execution: decision, outer: reply.getHeaders() });
  }
  route.preHandler = [...hooksOf(route.preHandler), oncelyPreHandler];
  route.onSend = [...hooksOf(route.onSend), oncelyOnSend];
  route.onError = [...hooksOf(route.onError), oncelyOnError];
  route.onResponse = [...hooksOf(route.onResponse), oncelyOnResponse];
}

async function oncelyOnSend(request: FastifyRequest, reply: FastifyReply, payload: unknown) {
  const state = pending.get(request);
  if (!state) return payload;
  if (state.kind === "storing") {
    // A second send while the first is being stored: an async handler that called `reply.send()` without returning
    // `reply` resolved, and Fastify sends its `undefined` too. Had the first send finished synchronously, Fastify
    // would have skipped it; letting it through would write the response twice. This send is dropped: its hook chain
    // never continues.
    return new Promise<never>(() => {});
  }
  if (state.kind === "answered") {
    pending.delete(request);
    if (state.bare) reply.removeHeader("content-type");
    return payload;
  }
  pending.set(request, STORING);
  const { execution, outer } = state;
  try {
    let captured: Awaited<ReturnType<typeof capturePayload>>;
    try {
      captured = await capturePayload(reply, payload, execution.maxResponseBytes);
    } catch (error) {
      await execution.abandon(error);
      throw error;
    }
    const replacement = await execution.finish({
      status: reply.statusCode,
      headers: headerPairs(reply.getHeaders()),
      body: captured.body,
    });
    return replacement ? replaceReply(reply, replacement, outer) : captured.payload;
  } finally {
    pending.delete(request);
  }
}

/** The handler threw (or sent an error): the error reply is not its result, so the key is released. */
async function oncelyOnError(request: FastifyRequest, _reply: FastifyReply, error: Error) {
  const state = pending.get(request);
  if (state?.kind !== "execute") return;
  pending.delete(request);
  await state.execution.abandon(error);
}

/** A reply that never passed `onSend` (`reply.hijack()`, a raw write) cannot be stored: release rather than hold. */
async function oncelyOnResponse(request: FastifyRequest) {
  const state = pending.get(request);
  if (state?.kind !== "execute") return;
  pending.delete(request);
  await state.execution.abandon(new Error("the response bypassed onSend (reply.hijack?) and was not captured"));
}

/** The engine's view of a Fastify request, in `preHandler`: Fastify has parsed the body (or had no parser run). */
function fastifyInput(request: FastifyRequest): GuardInput {
  const url = request.url;
  const queryStart = url.indexOf("?");
  const input: GuardInput = {
    method: request.method.toUpperCase(),
    path: queryStart === -1 ? url : url.slice(0, queryStart),
    query: queryStart === -1 ? "" : url.slice(queryStart + 1),
    headers: request.headers,
    raw: request,
  };
  const body = request.body as unknown;
  if (body === undefined) {
    // No parser read the request (no body, a method Fastify does not parse, or a parser that leaves the stream
    // unread): oncely reads the raw bytes itself and leaves the request readable for the handler.
    return request.raw.readableEnded ? input : { ...input, readBody: (max) => readNodeBody(request.raw, max) };
  }
  if (isReadable(body)) {
    if (body === request.raw) return { ...input, readBody: (max) => readNodeBody(request.raw, max) };
    // A parser that hands the stream on as the body: read it, then give the handler a fresh stream of the same bytes.
    return {
      ...input,
      readBody: async (max) => {
        const { body: bytes, replacement } = await bufferStream(body, max);
        if (bytes === null) throw new RequestTooLargeError(`The request body is over ${max} bytes`);
        request.body = replacement;
        return bytes;
      },
    };
  }
  return withParsedBody(input, body);
}

function isReadable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { pipe?: unknown }).pipe === "function" &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function"
  );
}

function hooksOf<T>(hooks: T | T[] | undefined): T[] {
  if (hooks === undefined) return [];
  return Array.isArray(hooks) ? hooks : [hooks];
}

function withoutRegisterOptions(options: FastifyRouteIdempotency | undefined): FastifyRouteIdempotency {
  if (!options) return {};
  return Object.fromEntries(Object.entries(options).filter(([name]) => !REGISTER_OPTION_NAMES.has(name)));
}
