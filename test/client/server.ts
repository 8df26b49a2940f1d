import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { withIdempotency } from "../../src/adapters/node/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import { listen, readStream } from "../http/servers.js";

/** One request as the server saw it. */
export interface Arrival {
  method: string;
  key: string | undefined;
  headers: IncomingHttpHeaders;
  /** `performance.now()` when the request arrived. */
  at: number;
  /** `Date.now()` when the request arrived. */
  wall: number;
}

/** What a scripted route answers next: a response, a dropped connection, or nothing at all. */
export type Scripted = { status: number; headers?: Record<string, string>; body?: string } | "drop" | "hang";

/** A promise the test opens by hand, to hold a handler mid-flight. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/**
 * A real HTTP server on 127.0.0.1 built on oncely (`withIdempotency` from oncely/node, `MemoryStore`):
 *
 * - `POST /charges`, `/required` (key required), `/slow` (held by `slowGate`): guarded routes whose handler counts an
 *   effect and answers 201 with the charge number. `dropAnswers(n)` makes the next n executions store their answer
 *   and then destroy the socket instead of sending it: the effect is done and the answer is lost.
 * - `/script/<name>` (any method, not guarded): answers from a queue set with `script(name, ...)`, then 200.
 *
 * Every arrival is recorded per route.
 */
export async function startServer() {
  const idem = createIdempotency({ store: new MemoryStore() });
  const arrivals = new Map<string, Arrival[]>();
  const effects = new Map<string, number>();
  const scripts = new Map<string, Scripted[]>();
  const closed = new Map<string, number>();
  const dropping = new WeakSet<ServerResponse>();
  let answersToDrop = 0;
  let slowGate = gate();
  slowGate.open();

  const effect = (route: string) => {
    const n = (effects.get(route) ?? 0) + 1;
    effects.set(route, n);
    return n;
  };

  const charge = (route: string) =>
    withIdempotency(
      idem,
      async (req, res) => {
        const body = await readStream(req);
        const n = effect(route);
        if (route === "slow") await slowGate.opened;
        if (answersToDrop > 0) {
          answersToDrop -= 1;
          dropping.add(res);
        }
        res.writeHead(201, { "content-type": "application/json", "x-charge": String(n) });
        res.end(JSON.stringify({ charge: n, body: new TextDecoder().decode(body) }));
      },
      route === "required" ? { required: true } : undefined,
    );
  const guarded = new Map([
    ["/charges", charge("charges")],
    ["/required", charge("required")],
    ["/slow", charge("slow")],
  ]);

  async function scripted(name: string, req: IncomingMessage, res: ServerResponse) {
    await readStream(req);
    const next = scripts.get(name)?.shift() ?? { status: 200, body: '{"ok":true}' };
    if (next === "drop") return req.socket.destroy();
    if (next === "hang") {
      res.on("close", () => closed.set(name, (closed.get(name) ?? 0) + 1));
      return;
    }
    res.writeHead(next.status, { "content-type": "application/json", ...next.headers });
    res.end(next.body ?? "");
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const route = path;
    const key = req.headers["idempotency-key"];
    const list = arrivals.get(route) ?? [];
    arrivals.set(route, list);
    const arrival: Arrival = {
      method: req.method ?? "GET",
      key: Array.isArray(key) ? key.join(",") : key,
      headers: req.headers,
      at: performance.now(),
      wall: Date.now(),
    };
    list.push(arrival);
    // Installed before oncely captures the response, so it runs after the outcome is stored: the record is
    // complete, and the client never hears of it.
    const end = res.end;
    res.end = function endOrDrop(this: ServerResponse, ...args: unknown[]) {
      if (dropping.has(res)) {
        req.socket.destroy();
        return res;
      }
      return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse["end"];

    if (path.startsWith("/script/")) {
      scripted(path.slice("/script/".length), req, res).catch(() => res.destroy());
      return;
    }
    const handler = guarded.get(path);
    if (!handler) {
      res.statusCode = 404;
      res.end();
      return;
    }
    handler(req, res).catch(() => {});
  });
  const running = await listen(server);

  return {
    url: running.url,
    /** Requests that reached `route` ("/charges", "/script/x"), in order. */
    arrivals: (route: string) => arrivals.get(route) ?? [],
    /** How many times the handler of a guarded route ran ("charges", "required", "slow"). */
    effects: (route: string) => effects.get(route) ?? 0,
    /** Connections to a hanging scripted route that the client closed. */
    closed: (name: string) => closed.get(name) ?? 0,
    script: (name: string, ...responses: Scripted[]) => scripts.set(name, responses),
    dropAnswers: (count: number) => {
      answersToDrop = count;
    },
    holdSlow: () => {
      slowGate = gate();
      return slowGate;
    },
    close: async () => {
      slowGate.open();
      await running.close();
      await idem.close();
    },
  };
}

export type TestServer = Awaited<ReturnType<typeof startServer>>;
