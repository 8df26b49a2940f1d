import { once } from "node:events";
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { createProxy, type OncelyProxy, type ProxyOptions } from "../../../src/cli/proxy/proxy.js";
import { createIdempotency, type Idempotency, type IdempotencyEvent, MemoryStore } from "../../../src/index.js";

// In-process pieces for the proxy's own tests: an upstream that counts what it runs and can misbehave on cue, and a
// proxy in front of it on a real socket.

export interface Listening {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listening> {
  const server = createServer(handler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What the upstream does with the next request to a path; `ok` once the queue for it is empty. */
export type Behaviour = "ok" | "hang" | "drop" | "drop-mid-body" | "fail-500";

export interface CountingUpstream extends Listening {
  /** Requests the upstream began handling, per path. */
  runs: Map<string, number>;
  /** Requests as the upstream received them (headers and body). */
  seen: { url: string; headers: IncomingMessage["headers"]; body: string }[];
  /** Queues behaviours for the next requests to `path`. */
  next(path: string, ...behaviours: Behaviour[]): void;
  /** Releases every hanging request (answers them). */
  releaseHanging(): void;
}

export async function countingUpstream(): Promise<CountingUpstream> {
  const runs = new Map<string, number>();
  const seen: CountingUpstream["seen"] = [];
  const queued = new Map<string, Behaviour[]>();
  const hanging: (() => void)[] = [];
  const listening = await listen((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const n = (runs.get(path) ?? 0) + 1;
      runs.set(path, n);
      seen.push({ url: req.url ?? "/", headers: req.headers, body: Buffer.concat(chunks).toString() });
      const behaviour = queued.get(path)?.shift() ?? "ok";
      const answer = () => {
        res.writeHead(201, { "content-type": "application/json", "x-run": String(n) });
        res.end(JSON.stringify({ path, n }));
      };
      if (behaviour === "ok") answer();
      else if (behaviour === "hang") hanging.push(answer);
      else if (behaviour === "drop") req.socket.destroy();
      else if (behaviour === "fail-500") {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end("upstream broke");
      } else {
        res.writeHead(200, { "content-type": "text/plain", "content-length": "1000" });
        res.write("only part of it");
        setTimeout(() => req.socket.destroy(), 20);
      }
    });
  });
  return {
    ...listening,
    runs,
    seen,
    next: (path, ...behaviours) => queued.set(path, [...(queued.get(path) ?? []), ...behaviours]),
    releaseHanging: () => {
      for (const answer of hanging.splice(0)) answer();
    },
  };
}

export interface ProxyUnderTest extends Listening {
  proxy: OncelyProxy;
  idem: Idempotency;
  events: IdempotencyEvent[];
}

/** A proxy with its own engine (MemoryStore unless given) in front of `upstream`, listening on a real socket. */
export async function startProxy(
  options: Omit<ProxyOptions, "idem"> & { idem?: Idempotency; events?: IdempotencyEvent[] },
): Promise<ProxyUnderTest> {
  const events = options.events ?? [];
  const idem = options.idem ?? createIdempotency({ store: new MemoryStore(), onEvent: (event) => events.push(event) });
  const proxy = createProxy({ ...options, idem });
  const listening = await listen(proxy.handle);
  return {
    ...listening,
    proxy,
    idem,
    events,
    async close() {
      await listening.close();
      await proxy.close();
    },
  };
}

/** A plain HTTP request with exactly the headers given (fetch adds and refuses some). */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: string },
): Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? "GET", headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}
