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
import { nodeInput } from "./node.js";
import { captureNodeResponse, sendNodeResponse } from "./node-response.js";
import { withParsedBody } from "./parsed-body.js";

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
export function idempotency(idem: Idempotency, options?: RouteOptions<Request>): RequestHandler {
  const guard = idem.route(options as RouteOptions);
  return function idempotency(req: Request, res: Response, next: NextFunction) {
    guard.begin(expressInput(req)).then((decision) => {
      if (decision.action === "pass") return next();
      if (decision.action === "respond") return sendNodeResponse(res, decision.response);
      req.idempotency = decision.context;
      captureNodeResponse(res, decision.finish);
      next();
    }, next);
  };
}

function expressInput(req: Request): GuardInput {
  const input = nodeInput(req, req.originalUrl);
  // A body parser that ran before oncely consumed the stream: fingerprint what it parsed. Otherwise oncely reads the
  // stream itself (Express 4's json() leaves `req.body = {}` without reading a body of another type).
  const consumed = req.readableEnded || (req.complete && !req.readable);
  return consumed ? withParsedBody(input, req.body) : input;
}
