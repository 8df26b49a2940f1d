/**
 * A process whose clock is off by ONCELY_CLOCK_SKEW_MS (see skewed-clock.ts), serving every store on one real
 * node:http server (oncely/node): `POST /guarded` with `x-store: <kind>` picks the store and `x-ttl: short` the short
 * TTL (headers, so the fingerprint matches the parent's requests for the same key). Its handler answers at once with its run count for the key
 * and whether this run took over a lapsed claim. Sends `{ port, now }` over IPC once listening.
 */
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { withIdempotency } from "../../../src/adapters/node/index.js";
import { createIdempotency } from "../../../src/core/engine.js";
import { openStore, type StoreConfig } from "../../multiprocess/store-config.js";

export interface SkewWorkerConfig {
  stores: StoreConfig[];
  lease: number;
  ttl: number;
  /** The TTL of requests sent with `x-ttl: short`. */
  shortTtl: number;
  storeTimeout: number;
}

const config = JSON.parse(process.env.ONCELY_SKEW_WORKER ?? "null") as SkewWorkerConfig | null;
if (!config || !process.send) throw new Error("skew-worker.ts is started by clock-skew.test.ts");
process.on("disconnect", () => process.exit(0));

type Route = ReturnType<typeof withIdempotency>;
const runs = new Map<string, number>();
const routes = new Map<string, { long: Route; short: Route }>(
  config.stores.map((store) => {
    const idem = createIdempotency({
      store: openStore(store, config.storeTimeout),
      storeTimeout: config.storeTimeout,
      lease: config.lease,
      ttl: config.ttl,
      rateLimit: false,
    });
    const handler = async (...[req, res, context]: Parameters<Parameters<typeof withIdempotency>[1]>) => {
      for await (const _ of req);
      const id = `${store.kind}:${context?.key}`;
      const run = (runs.get(id) ?? 0) + 1;
      runs.set(id, run);
      res.writeHead(201, { "content-type": "application/json" });
      res.end(JSON.stringify({ run, recovered: !!context?.recovered, pid: process.pid }));
    };
    const long = withIdempotency(idem, handler);
    const short = withIdempotency(idem, handler, { ttl: config.shortTtl });
    return [store.kind, { long, short }] as const;
  }),
);

const server = createServer((req, res) => {
  const routesOfStore = routes.get(String(req.headers["x-store"]));
  if (!routesOfStore) return void res.writeHead(404).end();
  const route = req.headers["x-ttl"] === "short" ? routesOfStore.short : routesOfStore.long;
  route(req, res).catch(() => {
    if (!res.headersSent) res.writeHead(500).end();
  });
});
server.listen(0, "127.0.0.1");
await once(server, "listening");
process.send({ port: (server.address() as AddressInfo).port, now: Date.now() });
