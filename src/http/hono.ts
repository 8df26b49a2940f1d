/**
 * Hono middleware, for every runtime Hono runs on.
 *
 * @module oncely/hono
 */
import type { Context, HonoRequest, MiddlewareHandler } from "hono";
import type { IdempotencyContext } from "../core/context.js";
import type { Idempotency } from "../core/engine.js";
import { RequestTooLargeError } from "../core/errors.js";
import type { GuardInput } from "../core/guard.js";
import type { RouteOptions } from "../core/options.js";
import type { IdempotencyRequest } from "../core/request.js";
import { headerEntries, readWebBody, webResponse } from "./web-body.js";

declare module "hono" {
  interface ContextVariableMap {
    /** The request's idempotency context, set by `oncely/hono` on guarded requests that run the handler. */
    idempotency?: IdempotencyContext;
  }
}

/**
 * Hono middleware; runs wherever Hono runs. The body oncely reads stays available to `c.req.json()` and friends.
 *
 * @example
 * import { idempotency } from "oncely/hono";
 * app.use("/charges/*", idempotency(idem));
 * app.post("/charges", async (c) => c.json(await charge(await c.req.json(), c.get("idempotency")?.key), 201));
 */
export function idempotency(idem: Idempotency, options?: RouteOptions<Context>): MiddlewareHandler {
  const guard = idem.route(options as RouteOptions);
  return async function idempotency(c, next) {
    const url = c.req.url;
    const queryStart = url.indexOf("?");
    let read: Uint8Array | undefined;
    const input: GuardInput = {
      method: c.req.method,
      path: c.req.path,
      query: queryStart === -1 ? "" : url.slice(queryStart + 1),
      headers: nodeHeaders(c.env) ?? c.req.header(),
      raw: c,
      // Hono caches what `c.req.arrayBuffer()` reads, so the handler can still parse the body. Touching
      // `c.req.raw.body` instead would make @hono/node-server build a full Request and slow every request down.
      readBody: async (limit) => {
        const declared = Number(c.req.header("content-length") ?? 0);
        if (declared > limit) throw new RequestTooLargeError(`The request body is ${declared} bytes`);
        if (declared === 0 && !c.req.header("transfer-encoding")) return undefined;
        // Without a Content-Length only reading tells the size: read a clone up to the limit, so an endless chunked
        // upload is refused near the limit instead of buffered whole; the handler still reads the original.
        if (c.req.header("content-length") === undefined) return readWebBody(c.req.raw, limit);
        read = new Uint8Array(await c.req.arrayBuffer());
        return read;
      },
    };
    const decision = await guard.begin(input);
    if (decision.action === "respond") {
      const { status, headers, body } = decision.response;
      return webResponse(status, headers, body);
    }
    if (read) shareAsText(c.req.bodyCache, read);
    if (decision.action === "pass") return next();
    c.set("idempotency", decision.context);
    await next();
    if (c.error) {
      await decision.abandon(c.error);
      return;
    }
    const response = c.res;
    const headers = headerEntries(response.headers);
    const body = new Uint8Array(await response.arrayBuffer());
    const replacement = await decision.finish({ status: response.status, headers, body });
    // Clearing first skips Hono merging the old headers into a response that already carries them.
    c.res = undefined as unknown as Response;
    c.res = replacement
      ? webResponse(replacement.status, replacement.headers, replacement.body)
      : webResponse(response.status, headers, body);
  };
}

const utf8 = new TextDecoder();

/**
 * Lets `c.req.json()` and `c.req.text()` decode the bytes oncely read, when first asked. Hono otherwise builds them
 * from its cached `ArrayBuffer` through a new fetch `Response`, which on Node.js 20 costs more than the rest of a
 * request. Hono's own validator fills this cache the same way. `TextDecoder` decodes as `Response.text()` does
 * (UTF-8, byte order mark dropped, invalid bytes replaced).
 */
function shareAsText(cache: HonoRequest["bodyCache"], body: Uint8Array): void {
  let text: Promise<string> | undefined;
  Object.defineProperty(cache, "text", {
    configurable: true,
    enumerable: true,
    get: () => (text ??= Promise.resolve(utf8.decode(body))),
    set: (value: Promise<string>) => {
      text = value;
    },
  });
}

/**
 * Node's own parsed headers, on @hono/node-server (its documented `c.env.incoming`). Asking Hono for every header
 * (`c.req.header()`) makes that server build a fetch `Headers` for each request, which costs more than oncely's own
 * work on a replay. Both join a repeated header with ", ".
 */
function nodeHeaders(env: unknown): IdempotencyRequest["headers"] | undefined {
  const incoming = (env as { incoming?: { headers?: unknown; on?: unknown } } | undefined)?.incoming;
  if (typeof incoming?.headers !== "object" || typeof incoming.on !== "function") return undefined;
  return incoming.headers as IdempotencyRequest["headers"];
}
