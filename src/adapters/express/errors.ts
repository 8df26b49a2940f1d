import type { Request } from "express";

/**
 * Express gives a middleware no way to see what happens after it: a handler that throws (or rejects, or calls
 * `next(err)`) hands its error to the `next` Express gave *that handler*, and the error path (the app's error
 * middleware, or finalhandler using `err.status`) may then answer with any status, 400 or 200 included. oncely must
 * not store that answer as the handler's result. So the adapter watches the `next` Express passes to each later layer:
 * its Layer's request dispatch is wrapped, once per copy of Express's router, and acts only for a request oncely holds.
 */

/** What a watched request does when a later layer passes an error to `next`. */
export interface HandlerErrorWatch {
  handlerFailed(error: unknown): void;
}

/** The watch of a request oncely holds the claim of; undefined for any other request. */
export type WatchOf = (req: Request) => HandlerErrorWatch | undefined;

type Dispatch = (this: unknown, req: Request, res: unknown, next: (error?: unknown) => void) => unknown;

/** Layer prototypes whose dispatch is already wrapped. */
const wrapped = new WeakSet<object>();
/** Routes and apps whose layers were looked at already: their requests need no second look. */
const looked = new WeakSet<object>();

/**
 * From now on, calls `watchOf(req).handlerFailed` when a later layer of a watched request (the handler, or a
 * middleware after oncely) passes an error to `next`, before the error path answers. Where Express's layers cannot be
 * found (an Express-like router that is not Express), only a 5xx answer releases the claim.
 */
export function watchHandlerErrors(req: Request, watchOf: WatchOf): void {
  // The route oncely is mounted on, else the app: each dispatches through layers of one class.
  const holder = (req.route ?? req.app) as object | undefined;
  if (holder !== undefined && looked.has(holder)) return;
  const prototype = layerPrototype(req);
  if (prototype && !wrapped.has(prototype)) wrapDispatch(prototype, watchOf);
  if (holder !== undefined) looked.add(holder);
}

/** The prototype of the layers Express dispatches this request through: Express 4's or router 2's `Layer`. */
function layerPrototype(req: Request): Record<string, unknown> | undefined {
  const app = req.app as unknown as { _router?: { stack?: unknown[] }; router?: { stack?: unknown[] } } | undefined;
  const route = req.route as { stack?: unknown[] } | undefined;
  const layer = route?.stack?.[0] ?? app?._router?.stack?.[0] ?? app?.router?.stack?.[0];
  if (typeof layer !== "object" || layer === null) return undefined;
  const prototype = Object.getPrototypeOf(layer) as Record<string, unknown>;
  return typeof prototype.handleRequest === "function" || typeof prototype.handle_request === "function"
    ? prototype
    : undefined;
}

function wrapDispatch(prototype: Record<string, unknown>, watchOf: WatchOf): void {
  wrapped.add(prototype);
  // router 2 (Express 5) names it handleRequest; Express 4's own router, handle_request.
  const name = typeof prototype.handleRequest === "function" ? "handleRequest" : "handle_request";
  const dispatch = prototype[name] as Dispatch;
  prototype[name] = function watchedDispatch(this: unknown, req: Request, res: unknown, next) {
    const watch = watchOf(req);
    if (!watch) return dispatch.call(this, req, res, next);
    return dispatch.call(this, req, res, function watchedNext(this: unknown, error?: unknown) {
      // "route" and "router" skip the rest of a route or router: a way on, not an error.
      if (error && error !== "route" && error !== "router") watch.handlerFailed(error);
      return next.call(this, error);
    });
  } as Dispatch;
}
