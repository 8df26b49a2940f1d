/**
 * Koa middleware.
 *
 * @module oncely/koa
 */
import type { Context, Middleware, Next } from "koa";
import type { IdempotencyContext } from "../../core/context.js";
import type { Idempotency } from "../../core/engine.js";
import type { GuardInput } from "../../core/guard.js";
import type { RouteOptions } from "../../core/options.js";
import type { StreamCapture } from "../../core/stream-recorder.js";
import { readNodeBody } from "../shared/node-body.js";
import { captureNodeResponse, stopHolding } from "../shared/node-response.js";
import { teeNodeResponse } from "../shared/node-stream.js";
import { withParsedBody } from "../shared/parsed-body.js";
import { unguardedRouteRefusal } from "../shared/unguarded-route.js";
import { captureKoaBody, putBackKoaBody, sendKoaResponse } from "./body.js";
import { feedStreamBodies, keepStreamBodies, sendKoaStream } from "./stream.js";

declare module "koa" {
  interface DefaultState {
    /** The request's idempotency context, set by `oncely/koa` on guarded requests that run the handler. */
    idempotency?: IdempotencyContext;
  }
}

/**
 * Koa (2 and 3) middleware. What the downstream middleware leaves in `ctx.body` (a string, Buffer, object, stream or
 * nothing) is stored as the bytes Koa will send, before Koa sends them, and put back as a Buffer of those bytes. Mount
 * it after a body parser (the fingerprint then uses `ctx.request.body`) or before one: where none ran, oncely reads
 * the body itself (bounded by `maxRequestBytes`) and leaves it readable for the parser or a signature check. On a
 * streaming route (`stream: true`), a stream in `ctx.body` goes out as it is read, recorded on its way.
 *
 * @example
 * import { idempotency } from "oncely/koa";
 * router.post("/charges", idempotency(idem, { required: true }), async (ctx) => {
 *   ctx.status = 201;
 *   ctx.body = await createCharge(ctx.request.body, { idempotencyKey: ctx.state.idempotency?.deriveKey("psp") });
 * });
 */
export function idempotency(idem: Idempotency, options?: RouteOptions<Context>): Middleware {
  const guard = idem.route(options as RouteOptions, { streams: true });
  const refuseUnguarded = unguardedRouteRefusal();
  return async function idempotency(ctx, next) {
    if (guard.options.methods.has(ctx.method) && answeredUpstream(ctx)) {
      // A handler upstream answered and called next(): it has run, and would run again on every retry.
      const route = `${ctx.method} ${(ctx as { _matchedRoute?: unknown })._matchedRoute ?? ctx.path}`;
      const refusal = refuseUnguarded(route, `${route} ${ANSWERED_UPSTREAM}`);
      if (!ctx.headerSent) sendKoaResponse(ctx, refusal);
      return;
    }
    const decision = await guard.begin(koaInput(ctx));
    if (decision.action === "pass") return next();
    if (decision.action === "respond") return sendKoaResponse(ctx, decision.response);
    if (decision.action === "stream") return sendKoaStream(ctx, decision.response);
    ctx.state.idempotency = decision.context;
    for (const [name, value] of decision.headers) ctx.set(name, value);
    if (decision.stream) return runStreaming(ctx, next, decision.stream);
    // The headers set before the handler ran (CORS, a request id): they stay if its answer is replaced.
    const outer = { ...ctx.response.headers };
    // A handler that bypasses Koa (`ctx.respond = false`) writes to `ctx.res` itself: those writes are held and stored
    // the way oncely/node stores them. Otherwise the hold ends once the handler is done.
    captureNodeResponse(ctx.res, decision.finish);
    try {
      await next();
    } catch (error) {
      stopHolding(ctx.res);
      await decision.abandon(error);
      throw error;
    }
    if (ctx.respond === false) return;
    stopHolding(ctx.res);
    let captured: Awaited<ReturnType<typeof captureKoaBody>>;
    try {
      captured = await captureKoaBody(ctx, decision.maxResponseBytes);
    } catch (error) {
      await decision.abandon(error);
      throw error;
    }
    const replacement = await decision.finish(captured.response);
    if (replacement) {
      for (const name of Object.keys(ctx.response.headers)) ctx.remove(name);
      ctx.set(outer as Record<string, string | string[]>);
      return sendKoaResponse(ctx, replacement);
    }
    putBackKoaBody(ctx, captured);
  };
}

/**
 * Runs a streaming route's handler: a stream it leaves in `ctx.body` is recorded as Koa sends it, and so is what it
 * writes to `ctx.res` itself (`ctx.respond = false`, the usual way to hold server-sent events open); a body of bytes
 * is recorded whole before Koa sends it.
 */
async function runStreaming(ctx: Context, next: Next, capture: StreamCapture): Promise<void> {
  const stopTee = teeNodeResponse(ctx.res, capture);
  const release = keepStreamBodies(ctx);
  try {
    await next();
  } catch (error) {
    release();
    stopTee();
    await capture.fail(error);
    throw error;
  }
  const handed = release();
  if (ctx.respond === false) return;
  stopTee();
  if (feedStreamBodies(ctx, handed, capture)) return;
  let captured: Awaited<ReturnType<typeof captureKoaBody>>;
  try {
    captured = await captureKoaBody(ctx, Number.POSITIVE_INFINITY);
  } catch (error) {
    await capture.fail(error);
    throw error;
  }
  const { response } = captured;
  capture.head(response.status, response.headers);
  if (response.body) capture.write(response.body);
  const replacement = await capture.end();
  if (replacement) return sendKoaResponse(ctx, replacement);
  putBackKoaBody(ctx, captured);
}

const ANSWERED_UPSTREAM =
  "was answered before oncely ran (oncely is mounted after the router, and the route's handler called next()), so " +
  "retries would run the handler again; the request was refused. Mount oncely before the router " +
  "(`app.use(idempotency(idem))` above `app.use(router.routes())`) or on the route " +
  "(`router.post(path, idempotency(idem), handler)`).";

/** True when the response was made before oncely ran: a body set, or headers already written. */
function answeredUpstream(ctx: Context): boolean {
  return ctx.headerSent || (ctx.body !== undefined && ctx.body !== null);
}

/** The engine's view of a Koa request. */
function koaInput(ctx: Context): GuardInput {
  const url = ctx.originalUrl;
  const queryStart = url.indexOf("?");
  const input: GuardInput = {
    method: ctx.method.toUpperCase(),
    // `originalUrl`, not `ctx.path`, which koa-mount shortens: the fingerprint sees the path the client sent.
    path: queryStart === -1 ? url : url.slice(0, queryStart),
    query: queryStart === -1 ? "" : url.slice(queryStart + 1),
    headers: ctx.headers,
    raw: ctx,
  };
  const req = ctx.req;
  // No parser consumed the stream: oncely reads it and leaves it readable. A parser that matched nothing may have set
  // `ctx.request.body = {}` without reading, so the stream decides, not the property.
  if (!(req.readableEnded || (req.complete && !req.readable))) {
    return { ...input, readBody: (max) => readNodeBody(req, max) };
  }
  return withParsedBody(input, (ctx.request as { body?: unknown }).body);
}
