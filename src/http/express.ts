/**
 * Express 4 and 5 middleware.
 *
 * @module oncely/express
 */
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { IdempotencyContext } from "../core/context.js";
import type { Idempotency } from "../core/engine.js";
import type { GuardInput } from "../core/guard.js";
import type { RouteOptions } from "../core/options.js";
import { onHandlerError } from "./express-errors.js";
import { nodeInput } from "./node.js";
import { captureNodeResponse, sendNodeResponse } from "./node-response.js";

declare global {
  namespace Express {
    interface Request {
      /** The request's idempotency context, set by `oncely/express` on guarded requests that run the handler. */
      idempotency?: IdempotencyContext;
    }
  }
}

/**
 * Express (4 and 5) middleware. Mount it after the body parser (the fingerprint then uses the parsed body) and after
 * `compression()`; per-route options override the instance's.
 *
 * @example
 * import { idempotency } from "oncely/express";
 * app.post("/charges", express.json(), idempotency(idem, { required: true }), (req, res) => {
 *   res.status(201).json(createCharge(req.body, { idempotencyKey: req.idempotency?.deriveKey("psp") }));
 * });
 */
export function idempotency(idem: Idempotency, options?: RouteOptions): RequestHandler {
  const guard = idem.route(options);
  return function idempotency(req: Request, res: Response, next: NextFunction) {
    guard.begin(expressInput(req)).then((decision) => {
      if (decision.action === "pass") return next();
      if (decision.action === "respond") return sendNodeResponse(res, decision.response);
      req.idempotency = decision.context;
      // A handler that threw is released, whatever the error path answers (an error middleware's 400, say): that
      // answer goes out held behind the release, so an immediate retry runs the handler again.
      let released: Promise<void> | undefined;
      onHandlerError(req, (error) => {
        released = decision.abandon(error);
      });
      captureNodeResponse(res, (response) => (released ? released.then(() => undefined) : decision.finish(response)));
      next();
    }, next);
  };
}

function expressInput(req: Request): GuardInput {
  const input = nodeInput(req, req.originalUrl);
  // A body parser that ran before oncely consumed the stream: fingerprint what it parsed. Otherwise oncely reads the
  // stream itself (Express 4's json() leaves `req.body = {}` without reading a body of another type).
  const consumed = req.readableEnded || (req.complete && !req.readable);
  if (!consumed) return input;
  const body = req.body as unknown;
  const parsed: GuardInput = { ...input, readBody: undefined };
  if (body === undefined) return parsed;
  if (Buffer.isBuffer(body)) return { ...parsed, body };
  if (typeof body === "string") return { ...parsed, body: Buffer.from(body) };
  return { ...parsed, parsedBody: body };
}
