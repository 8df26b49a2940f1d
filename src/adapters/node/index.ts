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
  const guard = idem.route(options as RouteOptions);
  return async function idempotentHandler(req, res) {
    const decision = await guard.begin(nodeInput(req));
    if (decision.action === "pass") return handler(req, res, undefined);
    if (decision.action === "respond") return sendNodeResponse(res, decision.response);
    captureNodeResponse(res, decision.finish);
    try {
      await handler(req, res, decision.context);
    } catch (error) {
      await decision.abandon(error);
      if (!res.writableEnded) {
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
