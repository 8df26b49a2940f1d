import { UnguardedRouteError } from "../../core/errors.js";
import { problemResponse, type ResponseData } from "../../core/response.js";

/** Writes a line to `console.error` once per id: a setup mistake is said once, not on every request. */
export function setupMistakeLog(): (id: string, line: string) => void {
  const logged = new Set<string>();
  return function logSetupMistake(id, line) {
    if (logged.has(id)) return;
    logged.add(id);
    console.error(`[oncely] ${line}`);
  };
}

/**
 * How an adapter refuses a request to a route it was set up too late to guard: the client gets a 500 problem that
 * says nothing about the app, and the server log gets `explanation` once per route: which route and what to change.
 * One refusal per middleware or plugin instance, so each logs its own routes once.
 */
export function unguardedRouteRefusal(): (route: string, explanation: string) => ResponseData {
  const log = setupMistakeLog();
  return function refuseUnguarded(route, explanation) {
    log(route, explanation);
    return problemResponse(
      new UnguardedRouteError(
        "This route is not guarded by oncely, so the request was refused rather than run; the server log says why",
      ),
    );
  };
}
