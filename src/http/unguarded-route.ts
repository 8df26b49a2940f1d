import { UnguardedRouteError } from "../core/errors.js";
import { problemResponse, type ResponseData } from "../core/response.js";

/**
 * How an adapter refuses a request to a route it was set up too late to guard: the client gets a 500 problem that
 * says nothing about the app, and the server log gets `explanation` once per route: which route and what to change. One refusal per
 * middleware or plugin instance, so each logs its own routes once.
 */
export function unguardedRouteRefusal(): (route: string, explanation: string) => ResponseData {
  const logged = new Set<string>();
  return function refuseUnguarded(route, explanation) {
    if (!logged.has(route)) {
      logged.add(route);
      console.error(`[oncely] ${explanation}`);
    }
    return problemResponse(
      new UnguardedRouteError(
        "This route is not guarded by oncely, so the request was refused rather than run; the server log says why",
      ),
    );
  };
}
