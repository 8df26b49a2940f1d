import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { withIdempotency } from "../../../src/adapters/node/index.js";
import { createIdempotency, type Idempotency } from "../../../src/core/engine.js";
import type { IdempotencyEvent } from "../../../src/core/events.js";
import type { RouteOptions } from "../../../src/core/options.js";
import type { Store } from "../../../src/core/store.js";

/** One answer as the client saw it, with how long it took. */
export interface Answer {
  status: number;
  headers: Headers;
  body: string;
  ms: number;
}

/**
 * A real node:http server (oncely/node) whose handler counts its runs per key. `POST /guarded` answers 503 when the
 * store fails; `POST /open` has `failOpen: true`. `hold(key)` keeps that key's handler running until released.
 */
export interface CountingApp {
  readonly origin: string;
  readonly idem: Idempotency;
  readonly events: IdempotencyEvent[];
  runs(key: string): number;
  totalRuns(): number;
  hold(key: string): { started: Promise<void>; release(): void };
  send(path: "/guarded" | "/open", key: string, body?: string): Promise<Answer>;
  /** Closes the server and the engine (and so the store); later calls return the first call's promise. */
  close(): Promise<void>;
}

export async function startCountingApp(
  store: Store,
  options: { storeTimeout: number; lease: number } & Partial<RouteOptions>,
): Promise<CountingApp> {
  const events: IdempotencyEvent[] = [];
  const { storeTimeout, ...routeOptions } = options;
  // The per-key rate limit is off: the recovery checks retry one key many times on purpose.
  const idem = createIdempotency({
    store,
    storeTimeout,
    rateLimit: false,
    ...routeOptions,
    onEvent: (event) => events.push(event),
  });
  const runs = new Map<string, number>();
  const holds = new Map<string, { started: () => void; released: Promise<void> }>();
  const handler = async (req: IncomingMessage, res: ServerResponse, key: string | undefined, recovered: boolean) => {
    for await (const _ of req);
    const id = key ?? "(none)";
    const run = (runs.get(id) ?? 0) + 1;
    runs.set(id, run);
    const hold = holds.get(id);
    if (hold) {
      holds.delete(id);
      hold.started();
      await hold.released;
    }
    res.writeHead(201, { "content-type": "application/json" });
    res.end(JSON.stringify({ key: id, run, recovered }));
  };
  const guarded = withIdempotency(idem, (req, res, context) => handler(req, res, context?.key, !!context?.recovered));
  const open = withIdempotency(
    idem,
    (req, res, context) => handler(req, res, context?.key ?? String(req.headers["idempotency-key"]), false),
    { failOpen: true },
  );
  const server = createServer((req, res) => {
    const route = req.url === "/open" ? open : guarded;
    route(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closing: Promise<void> | undefined;

  return {
    origin,
    idem,
    events,
    runs: (key) => runs.get(key) ?? 0,
    totalRuns: () => [...runs.values()].reduce((sum, n) => sum + n, 0),
    hold(key) {
      let started!: () => void;
      let release!: () => void;
      const startedPromise = new Promise<void>((resolve) => {
        started = resolve;
      });
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      holds.set(key, { started, released });
      return { started: startedPromise, release };
    },
    async send(path, key, body = `{"amount":100}`) {
      const start = performance.now();
      const response = await fetch(`${origin}${path}`, {
        method: "POST",
        headers: { "idempotency-key": key, "content-type": "application/json" },
        body,
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: text, ms: performance.now() - start };
    },
    close() {
      closing ??= (async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await idem.close();
      })();
      return closing;
    },
  };
}
