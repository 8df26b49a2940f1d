/**
 * Hono middleware, for every runtime Hono runs on.
 *
 * @module oncely/hono
 */
import type { Context, HonoRequest, MiddlewareHandler } from "hono";
import type { IdempotencyContext } from "../../core/context.js";
import type { Idempotency } from "../../core/engine.js";
import { RequestTooLargeError } from "../../core/errors.js";
import type { GuardInput } from "../../core/guard.js";
import type { RouteOptions } from "../../core/options.js";
import type { IdempotencyRequest } from "../../core/request.js";
import { ClientAbortedError } from "../shared/client-aborted.js";
import { headerEntries, readWebBody, webResponse } from "../shared/web-body.js";
import { teeWebResponse, webStream } from "../shared/web-stream.js";
import { learnConsumedKey, nodeBindings, receivedBody, writtenResponse } from "./node-server.js";

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
  const guard = idem.route(options as RouteOptions, { streams: true });
  return async function idempotency(c, next) {
    const url = c.req.url;
    const queryStart = url.indexOf("?");
    const node = nodeBindings(c.env);
    // On @hono/node-server, Node's own parsed headers: asking Hono for every header (`c.req.header()`) makes that
    // server build a fetch `Headers` per request, which costs more than oncely's own work on a replay. Both join a
    // repeated header with ", ".
    const headers = node ? (node.incoming.headers as IdempotencyRequest["headers"]) : c.req.header();
    let read: Uint8Array | undefined;
    const input: GuardInput = {
      method: c.req.method,
      path: c.req.path,
      query: queryStart === -1 ? "" : url.slice(queryStart + 1),
      headers,
      raw: c,
      // Hono caches what `c.req.arrayBuffer()` reads, so the handler can still parse the body. Touching
      // `c.req.raw.body` instead would make @hono/node-server build a full Request and slow every request down.
      readBody: async (limit) => {
        const length = headers["content-length"];
        const declared = Number(length ?? 0);
        if (declared > limit) throw new RequestTooLargeError(`The request body is ${declared} bytes`);
        if (declared === 0 && headers["transfer-encoding"] === undefined) return undefined;
        // Without a Content-Length only reading tells the size: read a clone up to the limit, so an endless chunked
        // upload is refused near the limit instead of buffered whole; the handler still reads the original.
        if (length === undefined) return readWebBody(c.req.raw, limit);
        if (node) {
          await undefined;
          read = receivedBody(node.incoming, c.req, declared);
          if (read) return read;
        }
        // On @hono/node-server this reads Node's request stream directly and marks the fetch Request's body used,
        // as `c.req.raw.bodyUsed`, `clone()` and Hono's `cloneRawRequest` expect after a read.
        try {
          read = new Uint8Array(await c.req.arrayBuffer());
        } catch (error) {
          // On @hono/node-server, a message that never completed: the client hung up mid-upload.
          if (node && !node.incoming.complete) throw new ClientAbortedError(error);
          throw error;
        }
        if (node) learnConsumedKey(c.req.raw);
        return read;
      },
    };
    const decision = await guard.begin(input);
    if (decision.action === "respond") {
      const { status, headers, body } = decision.response;
      return webResponse(status, headers, body);
    }
    if (decision.action === "stream") return webStream(decision.response);
    if (read) shareAsText(c.req.bodyCache, read);
    if (decision.action === "pass") return next();
    c.set("idempotency", decision.context);
    await next();
    const { stream } = decision;
    if (c.error) {
      await (stream ? stream.fail(c.error) : decision.abandon(c.error));
      return;
    }
    if (stream) return replace(c, teeWebResponse(c.res, stream, decision.headers));
    // Set on the handler's response itself: one a handler builds (`new Response`) never sees headers set before it.
    for (const [name, value] of decision.headers) c.res.headers.set(name, value);
    const response = c.res;
    // On @hono/node-server the handler's own response goes out as it is, unless the outcome could not be stored.
    const written = node && writtenResponse(response);
    if (written) {
      const replacement = await decision.finish(written);
      if (replacement) replace(c, webResponse(replacement.status, replacement.headers, replacement.body));
      return;
    }
    const status = response.status;
    const responseHeaders = headerEntries(response.headers);
    const body = new Uint8Array(await response.arrayBuffer());
    const answer = (await decision.finish({ status, headers: responseHeaders, body })) ?? {
      status,
      headers: responseHeaders,
      body,
    };
    replace(c, webResponse(answer.status, answer.headers, answer.body));
  };
}

/** Sets the response; clearing first skips Hono merging the old headers into one that already carries them. */
function replace(c: Context, response: Response): void {
  c.res = undefined as unknown as Response;
  c.res = response;
}

const utf8 = new TextDecoder();

/**
 * Lets `c.req.json()` and `c.req.text()` decode the bytes oncely read. Hono otherwise builds them from its cached
 * `ArrayBuffer` through a new fetch `Response`, which on Node.js 20 costs more than the rest of a request. Hono's own
 * validator fills this cache the same way. `TextDecoder` decodes as `Response.text()` does (UTF-8, byte order mark
 * dropped, invalid bytes replaced). Decoded now rather than on first use: a getter defined per request costs more
 * (its accessor pair is allocated where only a full garbage collection frees it, and it holds the request's body
 * until then: 0.6 KB per request survived the young generation, and 8 µs of CPU, on Node 20).
 */
function shareAsText(cache: HonoRequest["bodyCache"], body: Uint8Array): void {
  // Hono types the cache by the values; it holds promises of them.
  (cache as Record<string, unknown>).text = Promise.resolve(utf8.decode(body));
}
