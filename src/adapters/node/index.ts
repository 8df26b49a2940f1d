/**
 * Wraps plain `node:http` handlers.
 *
 * @module oncely/node
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { IdempotencyContext } from "../../core/context.js";
import type { Idempotency } from "../../core/engine.js";
import type { GuardInput } from "../../core/guard.js";
import type { RouteOptions } from "../../core/options.js";
import { readNodeBody } from "../shared/node-body.js";
import { captureNodeResponse, sendNodeResponse } from "../shared/node-response.js";
import { sendNodeStream, teeNodeResponse } from "../shared/node-stream.js";

/** A plain node:http handler that also receives the request's idempotency context (absent when not guarded). */
export type IdempotentNodeHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  idempotency: IdempotencyContext | undefined,
) => void | Promise<void>;

/**
 * Wraps a plain `node:http` request handler. The body is read (bounded) for the fingerprint and left readable for
 * the handler.
 *
 * @example
 * import { withIdempotency } from "oncely/node";
 * http.createServer(withIdempotency(idem, (req, res, idempotency) => { res.end("ok"); })).listen(3000);
 */
export function withIdempotency(
  idem: Idempotency,
  handler: IdempotentNodeHandler,
  options?: RouteOptions<IncomingMessage>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const guard = idem.route(options as RouteOptions, { streams: true });
  return async function idempotentHandler(req, res) {
    const decision = await guard.begin(nodeInput(req));
    if (decision.action === "pass") return handler(req, res, undefined);
    if (decision.action === "respond") return sendNodeResponse(res, decision.response);
    if (decision.action === "stream") return sendNodeStream(res, decision.response);
    for (const [name, value] of decision.headers) res.setHeader(name, value);
    const { stream } = decision;
    const stop = stream ? teeNodeResponse(res, stream) : captureNodeResponse(res, decision.finish);
    try {
      await handler(req, res, decision.context);
    } catch (error) {
      stop?.();
      await (stream ? stream.fail(error) : decision.abandon(error));
      if (res.headersSent) res.destroy();
      else if (!res.writableEnded) {
        res.statusCode = 500;
        res.end();
      }
      throw error;
    }
  };
}

/** The engine's view of a node:http request. */
export function nodeInput(req: IncomingMessage, url = req.url ?? "/"): GuardInput {
  const queryStart = url.indexOf("?");
  return {
    method: (req.method ?? "GET").toUpperCase(),
    path: queryStart === -1 ? url : url.slice(0, queryStart),
    query: queryStart === -1 ? "" : url.slice(queryStart + 1),
    headers: req.headers,
    raw: req,
    readBody: (limit) => readNodeBody(req, limit),
  };
}
