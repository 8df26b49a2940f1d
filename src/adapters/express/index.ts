/**
 * Express 4 and 5 middleware.
 *
 * @module oncely/express
 */
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { IdempotencyContext } from "../../core/context.js";
import type { Idempotency } from "../../core/engine.js";
import type { CapturedResponse, Decision, GuardInput } from "../../core/guard.js";
import type { RouteOptions } from "../../core/options.js";
import type { ResponseData } from "../../core/response.js";
import type { StreamCapture } from "../../core/stream-recorder.js";
import { nodeInput } from "../node/index.js";
import { captureNodeResponse, sendNodeResponse } from "../shared/node-response.js";
import { sendNodeStream, teeNodeResponse } from "../shared/node-stream.js";
import { withParsedBody } from "../shared/parsed-body.js";
import { setupMistakeLog } from "../shared/unguarded-route.js";
import { type HandlerErrorWatch, watchHandlerErrors } from "./errors.js";
import { routesMountedBefore } from "./order.js";

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
  const guard = idem.route(options as RouteOptions, { streams: true });
  const { methods } = guard.options;
  const warn = setupMistakeLog();
  let orderChecked = false;
  return function idempotency(req: Request, res: Response, next: NextFunction) {
    if (!orderChecked) {
      orderChecked = true;
      const before = routesMountedBefore(req, idempotency, methods);
      if (before.length > 0) warn("order", `${before.join(", ")} ${MOUNTED_BEFORE}`);
    }
    if (res.headersSent && methods.has(req.method)) {
      // A handler above answered and called next(): it has run, and runs again on every retry. Too late to refuse.
      const route = `${req.method} ${req.route?.path ?? req.path}`;
      warn(route, `${route} ${ANSWERED_BEFORE}`);
      return next();
    }
    guard.begin(expressInput(req)).then((decision) => {
      if (decision.action === "pass") return next();
      if (decision.action === "respond") return sendNodeResponse(res, decision.response);
      if (decision.action === "stream") return void sendNodeStream(res, decision.response);
      for (const [name, value] of decision.headers) res.setHeader(name, value);
      const claim = new HeldClaim(decision);
      guarded.set(req, claim);
      exposeContext(req, claim);
      watchHandlerErrors(req, guardedClaim);
      if (decision.stream) teeNodeResponse(res, claim.streamCapture(decision.stream));
      else captureNodeResponse(res, claim.settle);
      next();
    }, next);
  };
}

const MOUNTED_BEFORE =
  "are declared before app.use(idempotency(idem)), so Express answers them without oncely: retries run their " +
  "handlers again. Mount oncely above the routes (and routers) it should guard, or on the route itself " +
  "(app.post(path, idempotency(idem), handler)).";
const ANSWERED_BEFORE =
  "was answered before oncely ran (its handler called next() after responding), so oncely could not guard it. " +
  "Mount oncely above the route, or on the route itself (app.post(path, idempotency(idem), handler)).";

/**
 * The claim oncely holds for a request while Express runs its handler. It keeps the decision's functions, never the
 * decision itself, whose `request` holds the framework's request: this object is the value of `guarded`, keyed by that
 * request, and V8's young-generation collector treats a WeakMap's values as strong. A value that reached its key kept
 * every request (its response, headers, parsed body) alive through each scavenge until the next full collection,
 * which promoted them all to the old generation.
 */
class HeldClaim implements HandlerErrorWatch {
  /** Set once the handler failed: the claim is being released. */
  released: Promise<void> | undefined;
  readonly context: IdempotencyContext;
  readonly #finish: ExecuteDecision["finish"];
  readonly #abandon: ExecuteDecision["abandon"];
  readonly #stream: StreamCapture | undefined;

  constructor(decision: ExecuteDecision) {
    this.context = decision.context;
    this.#finish = decision.finish;
    this.#abandon = decision.abandon;
    this.#stream = decision.stream;
  }

  // A handler that threw is released, whatever the error path answers (an error middleware's 400, say): that answer
  // goes out held behind the release, so an immediate retry runs the handler again.
  handlerFailed(error: unknown): void {
    const stream = this.#stream;
    this.released ??= stream ? stream.fail(error) : this.#abandon(error);
  }

  readonly settle = (response: CapturedResponse): Promise<ResponseData | undefined> =>
    this.released ? this.released.then(() => undefined) : this.#finish(response);

  /** The recorder of a streaming route, whose end after a failed handler only waits for the release. */
  streamCapture(stream: StreamCapture): StreamCapture {
    return {
      head: (status, headers) => stream.head(status, headers),
      write: (chunk) => stream.write(chunk),
      end: () => (this.released ? this.released.then(() => undefined) : stream.end()),
      fail: (error) => (this.released ??= stream.fail(error)),
    };
  }
}

type ExecuteDecision = Extract<Decision, { action: "execute" }>;

/** The requests whose claim oncely holds, from the claim until the request is gone. */
const guarded = new WeakMap<Request, HeldClaim>();
const guardedClaim = (req: Request): HeldClaim | undefined => guarded.get(req);

/** Request prototypes (an app's `app.request`) that have the `idempotency` accessor. */
const withContext = new WeakSet<object>();

/**
 * `req.idempotency` is an accessor on the app's request prototype that reads the claim's context, not a property set
 * on each request: Express gives every request a hidden class of its own, so a property added to one copies that
 * class, which cost several µs per request. A mounted app's `request` inherits from its parent's, so the accessor is
 * found in sub-apps too. Assigning `req.idempotency` still works: it sets the request's own property. A request that
 * is not an Express app's (a connect-style router on plain node:http) gets the property itself: Node's own
 * `IncomingMessage` prototype is left alone.
 */
function exposeContext(req: Request, claim: HeldClaim): void {
  const prototype = Object.getPrototypeOf(req) as object;
  if (withContext.has(prototype)) return;
  if (!Object.hasOwn(prototype, "app")) {
    req.idempotency = claim.context;
    return;
  }
  withContext.add(prototype);
  Object.defineProperty(prototype, "idempotency", {
    configurable: true,
    get(this: Request) {
      return guarded.get(this)?.context;
    },
    set(this: Request, value: unknown) {
      Object.defineProperty(this, "idempotency", { value, writable: true, enumerable: true, configurable: true });
    },
  });
}

function expressInput(req: Request): GuardInput {
  const input = nodeInput(req, req.originalUrl);
  // A body parser that ran before oncely consumed the stream: fingerprint what it parsed. Otherwise oncely reads the
  // stream itself (Express 4's json() leaves `req.body = {}` without reading a body of another type).
  const consumed = req.readableEnded || (req.complete && !req.readable);
  return consumed ? withParsedBody(input, req.body) : input;
}
