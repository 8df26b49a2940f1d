/**
 * The Fastify 4 and 5 plugin, with per-route `config.idempotency`.
 *
 * @module oncely/fastify
 */
import type { FastifyPluginCallback, FastifyReply, FastifyRequest, RouteOptions as FastifyRouteOptions } from "fastify";
import type { IdempotencyContext } from "../../core/context.js";
import type { Idempotency, RouteGuard } from "../../core/engine.js";
import { RequestTooLargeError } from "../../core/errors.js";
import type { Decision, GuardInput, StreamingDecision } from "../../core/guard.js";
import type { RouteOptions } from "../../core/options.js";
import type { ResponseData } from "../../core/response.js";
import { headerPairs } from "../shared/header-pairs.js";
import { readNodeBody } from "../shared/node-body.js";
import { bufferStream } from "../shared/stream-body.js";
import { markSeen, refuseUnseenRoutes } from "./registration.js";
import {
  capturePayload,
  payloadBytes,
  type ReplyHeaders,
  replaceReply,
  sendBody,
  setStatusAndHeaders,
} from "./reply.js";
import { sendStream, teePayload } from "./stream.js";

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

/** A request whose key oncely claimed: `onSend` stores its reply. */
class Claimed {
  constructor(
    readonly execution: Execution,
    /** The headers set before the handler ran (CORS, a request id), kept when its reply is replaced. */
    readonly outer: ReplyHeaders,
  ) {}
}

/** Its reply is being stored right now: a second send meanwhile is dropped (see `oncelyOnSend`). */
const STORING = Symbol("storing");
/** oncely answered it with a response that has no `Content-Type`, which Fastify adds to a Buffer payload. */
const UNTYPED_ANSWER = Symbol("untyped answer");

/**
 * What `onSend` must do for a request, from `preHandler` on. It lives on the request, declared once with
 * `decorateRequest` (null), so every request object keeps one shape, and no WeakMap entry per request is left for the
 * garbage collector to clear.
 */
const kState = Symbol("oncely.state");
type RequestState = Claimed | typeof STORING | typeof UNTYPED_ANSWER | null;
type TrackedRequest = FastifyRequest & { [kState]?: RequestState };

// The guard each route's hooks use, by the route options object every onRoute hook receives.
const guardedRoutes = new WeakMap<object, { guard: RouteGuard<StreamingDecision> | undefined }>();

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
    const instanceGuard = idem.route(base, { streams: true });
    if (!instance.hasRequestDecorator("idempotency")) instance.decorateRequest("idempotency", undefined);
    if (!instance.hasRequestDecorator(kState)) instance.decorateRequest(kState, null);
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
      const guard =
        typeof config === "object"
          ? idem.route({ ...base, ...(config as RouteOptions) }, { streams: true })
          : instanceGuard;
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
function guardRoute(route: FastifyRouteOptions, guard: RouteGuard<StreamingDecision>): void {
  const holder: { guard: RouteGuard<StreamingDecision> | undefined } = { guard };
  guardedRoutes.set(route, holder);
  // Callback-style: an answer (a replay, a problem) ends the hook chain by not calling `done`. An async hook would
  // have to return `reply` instead, whose `then` waits for the response to finish with stream listeners.
  function oncelyPreHandler(request: TrackedRequest, reply: FastifyReply, done: (error?: Error) => void) {
    const { guard } = holder;
    if (!guard) return done();
    guard.begin(fastifyInput(request)).then((decision) => {
      if (decision.action === "pass") return done();
      try {
        if (decision.action === "respond") return answer(request, reply, decision.response);
        if (decision.action === "stream") return sendStream(reply, decision.response);
        request.idempotency = decision.context;
        for (const [name, value] of decision.headers) reply.header(name, value);
        request[kState] = new Claimed(decision, reply.getHeaders());
        releaseIfUncaptured(request, reply);
      } catch (error) {
        // As Fastify does with what an async hook throws.
        return done(error as Error);
      }
      done();
    }, done);
  }
  route.preHandler = [...hooksOf(route.preHandler), oncelyPreHandler];
  route.onSend = [...hooksOf(route.onSend), oncelyOnSend];
  route.onError = [...hooksOf(route.onError), oncelyOnError];
}

/** Answers with oncely's own response (a replay, a problem), which is never stored. */
function answer(request: TrackedRequest, reply: FastifyReply, response: ResponseData): void {
  if (!setStatusAndHeaders(reply, response)) request[kState] = UNTYPED_ANSWER;
  sendBody(reply, response);
}

/**
 * Callback-style, so the requests with nothing to store (oncely's own answers, unguarded ones) pass straight through
 * without a promise, and a send can be dropped without leaving anything pending.
 */
function oncelyOnSend(
  request: TrackedRequest,
  reply: FastifyReply,
  payload: unknown,
  done: (error: Error | null, payload?: unknown) => void,
): void {
  const state = request[kState];
  if (state === null || state === undefined) {
    done(null, payload);
  } else if (state === UNTYPED_ANSWER) {
    request[kState] = null;
    reply.removeHeader("content-type");
    done(null, payload);
  } else if (state !== STORING) {
    request[kState] = STORING;
    void storeReply(request, reply, payload, state, done);
  }
  // Otherwise a second send while the first is being stored: an async handler that called `reply.send()` without
  // returning `reply` resolved, and Fastify sends its `undefined` too. Had the first send finished synchronously,
  // Fastify would have skipped it; letting it through would write the response twice. It is dropped: its hook chain
  // ends here (a callback-style hook that does not call `done`), and nothing is left waiting for it.
}

/** Stores the handler's reply (its final payload) before a byte of it is written, then hands the payload on. */
async function storeReply(
  request: TrackedRequest,
  reply: FastifyReply,
  payload: unknown,
  claimed: Claimed,
  done: (error: Error | null, payload?: unknown) => void,
): Promise<void> {
  const { execution, outer } = claimed;
  // A string payload is handed on as it is, not as the bytes read from it: Node.js writes a string body with the
  // headers in one chunk, and a Buffer beside them (two chunks) cost about 8% more CPU per request, measured.
  let answer = payload;
  try {
    const { stream } = execution;
    if (stream) {
      request[kState] = null;
      return done(null, await teePayload(reply, payload, stream));
    }
    let body: Uint8Array | null | undefined = payloadBytes(reply, payload);
    if (body === undefined) {
      try {
        ({ body, payload: answer } = await capturePayload(reply, payload, execution.maxResponseBytes));
      } catch (error) {
        await execution.abandon(error);
        throw error;
      }
    }
    const replacement = await execution.finish({
      status: reply.statusCode,
      headers: headerPairs(reply.getHeaders()),
      body,
    });
    if (replacement) answer = replaceReply(reply, replacement, outer);
  } catch (error) {
    request[kState] = null;
    done(error as Error);
    return;
  }
  request[kState] = null;
  // As Fastify's own runner does for a hook's result: what the rest of the send throws goes to its error handling.
  try {
    done(null, answer);
  } catch (error) {
    done(error as Error);
  }
}

/** The handler threw (or sent an error): the error reply is not its result, so the key is released. */
async function oncelyOnError(request: TrackedRequest, _reply: FastifyReply, error: Error) {
  const state = request[kState];
  if (!(state instanceof Claimed)) return;
  request[kState] = null;
  const { stream } = state.execution;
  await (stream ? stream.fail(error) : state.execution.abandon(error));
}

/**
 * A reply that never passed `onSend` (`reply.hijack()`, a raw write) cannot be stored: its key is released when the
 * response ends rather than held. Only requests that run the handler pay for the listener.
 */
function releaseIfUncaptured(request: TrackedRequest, reply: FastifyReply): void {
  reply.raw.once("finish", () => {
    const state = request[kState];
    if (!(state instanceof Claimed)) return;
    request[kState] = null;
    state.execution
      .abandon(new Error("the response bypassed onSend (reply.hijack?) and was not captured"))
      .catch((error: unknown) => request.log.error({ err: error }, "oncely could not release the key"));
  });
}

/**
 * The engine's view of a Fastify request, in `preHandler`: Fastify has parsed the body (or had no parser run). One
 * object of one shape whatever the body is: adding the body to a copy by spreading (`withParsedBody`) cost 3 µs a
 * request, this 0.1 µs.
 */
function fastifyInput(request: FastifyRequest): GuardInput {
  const url = request.url;
  const queryStart = url.indexOf("?");
  const body = request.body as unknown;
  // What a parser left: bytes for a string or Buffer, otherwise the parsed value, which the engine fingerprints
  // canonically and measures against `maxRequestBytes` (by its `Content-Length`) as it does bytes.
  const bytes = typeof body === "string" ? Buffer.from(body) : body instanceof Uint8Array ? body : undefined;
  const parsed = bytes === undefined && body !== undefined && !isReadable(body);
  return {
    method: request.method.toUpperCase(),
    path: queryStart === -1 ? url : url.slice(0, queryStart),
    query: queryStart === -1 ? "" : url.slice(queryStart + 1),
    headers: request.headers,
    raw: request,
    body: bytes,
    parsedBody: parsed ? body : undefined,
    readBody:
      bytes === undefined && !parsed ? bodyReader(request, body as AsyncIterable<unknown> | undefined) : undefined,
  };
}

/** Reads the body where no parser did, or where one handed the stream on as the body. */
function bodyReader(request: FastifyRequest, body: AsyncIterable<unknown> | undefined): GuardInput["readBody"] {
  if (body === undefined) {
    // No parser read the request (no body, a method Fastify does not parse, or a parser that leaves the stream
    // unread): oncely reads the raw bytes itself and leaves the request readable for the handler.
    return request.raw.readableEnded ? undefined : (max) => readNodeBody(request.raw, max);
  }
  if (body === request.raw) return (max) => readNodeBody(request.raw, max);
  // A parser that hands the stream on as the body: read it, then give the handler a fresh stream of the same bytes.
  return async (max) => {
    const { body: bytes, replacement } = await bufferStream(body, max);
    if (bytes === null) throw new RequestTooLargeError(`The request body is over ${max} bytes`);
    request.body = replacement;
    return bytes;
  };
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
