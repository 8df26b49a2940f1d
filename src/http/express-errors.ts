import type { Request } from "express";

/**
 * Express gives a middleware no way to see what happens after it: a handler that throws (or rejects, or calls
 * `next(err)`) hands its error to the `next` Express gave *that handler*, and the error path (the app's error
 * middleware, or finalhandler using `err.status`) may then answer with any status, 400 or 200 included. oncely must
 * not store that answer as the handler's result. So the adapter watches the `next` Express passes to each later layer:
 * its Layer's request dispatch is wrapped, once per copy of Express's router, and acts only for a request oncely holds.
 */

type Dispatch = (this: unknown, req: Request, res: unknown, next: (error?: unknown) => void) => unknown;

/** Requests whose claim oncely holds, with what to do when an error reaches `next`. */
const watched = new WeakMap<object, (error: unknown) => void>();
/** Layer prototypes whose dispatch is already wrapped. */
const wrapped = new WeakSet<object>();

/**
 * Calls `onError` (once) when a later layer of this request (the handler, or a middleware after oncely) passes an
 * error to `next`, before the error path answers. Returns false when Express's layers cannot be found (an
 * Express-like router that is not Express), where only a 5xx answer releases the claim.
 */
export function onHandlerError(req: Request, onError: (error: unknown) => void): boolean {
  const prototype = layerPrototype(req);
  if (!prototype) return false;
  wrapDispatch(prototype);
  let called = false;
  watched.set(req, (error) => {
    if (called) return;
    called = true;
    onError(error);
  });
  return true;
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

function wrapDispatch(prototype: Record<string, unknown>): void {
  if (wrapped.has(prototype)) return;
  wrapped.add(prototype);
  // router 2 (Express 5) names it handleRequest; Express 4's own router, handle_request.
  const name = typeof prototype.handleRequest === "function" ? "handleRequest" : "handle_request";
  const dispatch = prototype[name] as Dispatch;
  prototype[name] = function watchedDispatch(this: unknown, req: Request, res: unknown, next) {
    const onError = watched.get(req);
    if (!onError) return dispatch.call(this, req, res, next);
    return dispatch.call(this, req, res, function watchedNext(this: unknown, error?: unknown) {
      // "route" and "router" skip the rest of a route or router: a way on, not an error.
      if (error && error !== "route" && error !== "router") onError(error);
      return next.call(this, error);
    });
  } as Dispatch;
}
