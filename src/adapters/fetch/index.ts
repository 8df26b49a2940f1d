/**
 * Wraps any `(Request) => Response` handler: Next.js route handlers, Bun, Deno, Workers.
 *
 * @module oncely/fetch
 */
import type { IdempotencyContext } from "../../core/context.js";
import type { Idempotency } from "../../core/engine.js";
import type { GuardInput } from "../../core/guard.js";
import type { RouteOptions } from "../../core/options.js";
import { headerEntries, readWebBody, webResponse } from "../shared/web-body.js";
import { teeWebResponse, webStream } from "../shared/web-stream.js";

/** A fetch handler that also receives the request's idempotency context (absent when the request is not guarded). */
export type IdempotentFetchHandler<Rest extends unknown[]> = (
  request: Request,
  idempotency: IdempotencyContext | undefined,
  ...rest: Rest
) => Response | Promise<Response>;

/**
 * Wraps any `(Request) => Response` handler: Next.js route handlers, Bun, Deno, Cloudflare Workers. Extra arguments
 * (Next.js's `{ params }`, a Worker's `env`) are passed on after the idempotency context.
 *
 * @example
 * import { withIdempotency } from "oncely/fetch";
 * export const POST = withIdempotency(idem, async (request, idempotency) => Response.json(await charge(request)));
 */
export function withIdempotency<Rest extends unknown[]>(
  idem: Idempotency,
  handler: IdempotentFetchHandler<Rest>,
  options?: RouteOptions<Request>,
): (request: Request, ...rest: Rest) => Promise<Response> {
  const guard = idem.route(options as RouteOptions, { streams: true });
  return async function idempotentFetch(request, ...rest) {
    const decision = await guard.begin(fetchInput(request));
    if (decision.action === "pass") return handler(request, undefined, ...rest);
    if (decision.action === "respond") {
      const { status, headers, body } = decision.response;
      return webResponse(status, headers, body);
    }
    if (decision.action === "stream") return webStream(decision.response);
    const { stream } = decision;
    let response: Response;
    try {
      response = await handler(request, decision.context, ...rest);
    } catch (error) {
      await (stream ? stream.fail(error) : decision.abandon(error));
      throw error;
    }
    if (stream) return teeWebResponse(response, stream, decision.headers);
    const headers = headerEntries(response.headers);
    const body = new Uint8Array(await response.arrayBuffer());
    const replacement = await decision.finish({ status: response.status, headers, body });
    if (replacement) return webResponse(replacement.status, replacement.headers, replacement.body);
    return webResponse(response.status, decision.headers.length ? [...headers, ...decision.headers] : headers, body);
  };
}

/** The engine's view of a fetch `Request`. */
function fetchInput(request: Request): GuardInput {
  const url = new URL(request.url);
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return {
    method: request.method.toUpperCase(),
    path: url.pathname,
    query: url.search.slice(1),
    headers,
    raw: request,
    readBody: (limit) => readWebBody(request, limit),
  };
}
