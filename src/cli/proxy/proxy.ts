import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { sendNodeResponse } from "../../adapters/shared/node-response.js";
import { sendNodeStream } from "../../adapters/shared/node-stream.js";
import type { Idempotency, RouteGuard } from "../../core/engine.js";
import type { GuardInput, StreamingDecision } from "../../core/guard.js";
import type { RouteOptions } from "../../core/options.js";
import { RequestAbort } from "./abort.js";
import { BadRequestTargetError, HopByHopKeyError, upstreamFailure } from "./errors.js";
import { forwardGuarded, shuttingDown } from "./guarded.js";
import { upstreamRequestHeaders } from "./headers.js";
import { checkHealth, type HealthReport } from "./health.js";
import { passThrough } from "./pass-through.js";
import { readRequestBody } from "./request-body.js";
import { sendJson, sendProblem } from "./respond.js";
import { findRoute, parseRoutePattern, type RoutePattern } from "./routes.js";
import { forwardStreamed } from "./streamed.js";
import { readRequestTarget } from "./target.js";
import { connectUpstream, type Upstream } from "./upstream.js";

/** One guarded route: `"POST /charges/*"` and the engine's options for it. */
export interface ProxyRoute {
  route: string;
  /** Per-route engine options (ttl, required, scope, ...). `methods` defaults to the rule's method. */
  options?: RouteOptions;
}

/** Something the proxy did beside the engine's decisions, for its log. */
export interface ProxyLogEntry {
  level: "info" | "warn" | "error";
  msg: string;
  [field: string]: unknown;
}

export interface ProxyOptions {
  /** The engine: its store, defaults and `onEvent` (one log line per decision). */
  idem: Idempotency;
  /** The upstream's base URL. */
  upstream: string;
  /** Guarded routes, first match wins; every other request passes through untouched. */
  routes: readonly ProxyRoute[];
  /** The longest wait for the upstream's response headers, and between two chunks of its body, ms. @default 30_000 */
  upstreamTimeout?: number;
  /**
   * Where `GET` answers the proxy's health: `200 {"status":"ok"}`, or `503` with `unavailable` or `draining`, and
   * nothing more; why the store failed goes to `log`. @default "/.oncely/health"
   */
  healthPath?: string;
  /** How long the health probe waits for the store, ms. @default 1_000 */
  healthTimeout?: number;
  /** The request header that carries the key, as the engine reads it. @default "idempotency-key" */
  keyHeader?: string;
  /** Receives what the proxy did beside the engine's decisions (an upstream failure, a request cut by shutdown). */
  log?: (entry: ProxyLogEntry) => void;
}

export interface DrainResult {
  /** Requests that finished while the proxy waited. */
  finished: number;
  /** Requests it stopped waiting for: their upstream requests were aborted and their claims released. */
  abandoned: number;
}

export interface OncelyProxy {
  /** The `node:http` request listener. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Requests under way. */
  readonly inFlight: number;
  /**
   * Stops taking requests (new ones are answered 503), waits up to `timeout` ms for those under way, then aborts the
   * rest: each releases its claim and answers 503, so its retry runs again elsewhere. `hurry` resolving (a second
   * signal) ends the wait early, as the timeout does.
   */
  drain(timeout: number, hurry?: Promise<unknown>): Promise<DrainResult>;
  /** Closes the connections to the upstream (the engine and its store are the caller's to close). */
  close(): Promise<void>;
}

interface CompiledRoute {
  pattern: RoutePattern;
  guard: RouteGuard<StreamingDecision>;
}

interface Pending {
  done: Promise<void>;
  abort: RequestAbort;
}

/**
 * A reverse proxy that applies oncely to the routes named and passes every other request through, streamed.
 *
 * @throws {TypeError} when a route rule or its options are invalid (the message names the route), or when a route
 *   asks for `transactional` (an upstream's writes cannot join the store's transaction)
 * @example
 * const proxy = createProxy({ idem, upstream: "http://127.0.0.1:3000", routes: [{ route: "POST /charges" }] });
 * http.createServer(proxy.handle).listen(8080);
 */
export function createProxy(options: ProxyOptions): OncelyProxy {
  const { idem, log } = options;
  const healthPath = options.healthPath ?? "/.oncely/health";
  const healthTimeout = options.healthTimeout ?? 1_000;
  const keyHeader = (options.keyHeader ?? "idempotency-key").toLowerCase();
  const routes = options.routes.map((route) => compileRoute(idem, route));
  const upstream: Upstream = connectUpstream({ url: options.upstream, timeout: options.upstreamTimeout ?? 30_000 });
  const pending = new Set<Pending>();
  let draining = false;
  let lastHealthError: string | undefined;

  // A failing probe is logged with its cause once, not once per probe (an orchestrator asks every few seconds),
  // and again when the cause changes or the store answers again.
  function logHealth(report: HealthReport): void {
    if (report.status === "unavailable" && report.error !== lastHealthError) {
      log?.({ level: "error", msg: "oncely health check failed", proxy: { store: report.store, error: report.error } });
    } else if (report.status === "ok" && lastHealthError !== undefined) {
      log?.({ level: "info", msg: "oncely health check passed", proxy: { store: report.store } });
    }
    if (report.status !== "draining") lastHealthError = report.error;
  }

  async function serve(req: IncomingMessage, res: ServerResponse, abort: RequestAbort): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    const target = readRequestTarget(req.url ?? "/");
    if (!target) {
      const error = new BadRequestTargetError("Send the request target in origin-form, as in POST /charges");
      return sendProblem(res, error);
    }
    const { path, url } = target;
    if (path === healthPath && (method === "GET" || method === "HEAD")) {
      const report = await checkHealth(idem.store, healthTimeout, draining);
      logHealth(report);
      return sendJson(res, report.status === "ok" ? 200 : 503, { status: report.status }, method === "HEAD");
    }
    if (draining) return sendProblem(res, shuttingDown(), path);
    const headers = upstreamRequestHeaders(req.headers, {
      address: req.socket.remoteAddress,
      protocol: (req.socket as TLSSocket).encrypted ? "https" : "http",
      host: target.authority ?? req.headers.host,
    });
    const route = findRoute(routes, method, path);
    let body: Uint8Array | undefined;
    if (route) {
      if (req.headers[keyHeader] !== undefined && headers[keyHeader] === undefined) {
        const error = new HopByHopKeyError(
          `The Connection header names ${keyHeader}, which then would not be forwarded`,
        );
        return sendProblem(res, error, path);
      }
      const input: GuardInput = {
        method,
        path,
        query: target.query,
        // The headers as they will be forwarded, not as received: a header the upstream never sees (hop-by-hop, or
        // named in Connection) must not decide the scope or the fingerprint.
        headers,
        raw: req,
        readBody: async (limit) => {
          body = await readRequestBody(req, limit);
          return body;
        },
      };
      const decision = await route.guard.begin(input);
      if (decision.action === "respond") return sendNodeResponse(res, decision.response);
      if (decision.action === "stream") return sendNodeStream(res, decision.response);
      if (decision.action === "execute") {
        const request = { res, path, url, headers, decision, signal: abort };
        const outcome = decision.stream
          ? await forwardStreamed(upstream, request, decision.stream)
          : await forwardGuarded(upstream, request);
        if (outcome.kind === "upstream-failed") {
          log?.({ level: "error", msg: `oncely upstream failed ${route.pattern.name}`, proxy: outcome });
        } else if (outcome.kind === "shut-down") {
          log?.({ level: "warn", msg: `oncely released at shutdown ${route.pattern.name}`, proxy: outcome });
        }
        return;
      }
    }
    try {
      await passThrough(upstream, { req, res, url, headers, body, signal: abort });
    } catch (error) {
      // Once the answer has begun, or the client has gone, there is no one to tell: the connection is dropped.
      if (res.headersSent || res.destroyed) return void res.destroy();
      const failure = abort.aborted ? shuttingDown() : upstreamFailure(error, upstream.url, upstream.timeout);
      sendProblem(res, failure, path);
      log?.({
        level: "error",
        msg: `oncely upstream failed ${method} ${path}`,
        proxy: { kind: "upstream-failed", status: failure.status, reason: failure.message },
      });
    }
  }

  return {
    handle(req, res) {
      if (draining) res.shouldKeepAlive = false;
      const abort = new RequestAbort();
      const entry: Pending = { abort, done: Promise.resolve() };
      entry.done = serve(req, res, abort)
        .catch((error: unknown) => {
          // A scope or fingerprint function that threw, or a bug: the request gets a 500, the proxy keeps serving.
          log?.({ level: "error", msg: "oncely proxy error", error: (error as Error)?.message ?? String(error) });
          if (!res.headersSent) {
            res.writeHead(500, { "content-type": "text/plain" });
            res.end("proxy error");
          } else res.destroy();
        })
        .finally(() => pending.delete(entry));
      pending.add(entry);
    },
    get inFlight() {
      return pending.size;
    },
    async drain(timeout, hurry) {
      draining = true;
      const before = pending.size;
      const all = () => Promise.all([...pending].map((entry) => entry.done));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        all().then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), timeout);
        }),
        ...(hurry ? [hurry.then(() => true)] : []),
      ]);
      clearTimeout(timer);
      if (!timedOut) return { finished: before, abandoned: 0 };
      const left = [...pending];
      for (const entry of left) entry.abort.abort();
      await all();
      return { finished: before - left.length, abandoned: left.length };
    },
    close: () => upstream.close(),
  };
}

function compileRoute(idem: Idempotency, route: ProxyRoute): CompiledRoute {
  const pattern = parseRoutePattern(route.route);
  const options = route.options ?? {};
  if (options.transactional) {
    throw new TypeError(
      `route "${pattern.name}": \`transactional\` cannot apply through a proxy: the upstream's writes are not in the store's transaction`,
    );
  }
  try {
    const guard = idem.route(
      { ...options, route: pattern.name, methods: options.methods ?? [pattern.method] },
      { streams: true },
    );
    return { pattern, guard };
  } catch (error) {
    throw new TypeError(`route "${pattern.name}": ${(error as Error).message}`, { cause: error });
  }
}
