import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import Router from "@koa/router";
import Koa from "koa";
import { afterEach, describe, expect, it, vi } from "vitest";
import { idempotency } from "../../src/adapters/koa/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "./app-spec.js";
import { listen } from "./servers.js";

// Koa has no registration hook: a middleware learns nothing of the app until a request reaches it. Mounted after the
// router, oncely is reached only when a route's handler calls `next()`, after the handler has run; then the response
// is already made, and oncely refuses it loudly rather than store it and let every retry run the handler again.

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  vi.restoreAllMocks();
});

async function postTwice(url: string) {
  const key = randomUUID();
  const send = () => fetch(`${url}/charges`, { method: "POST", headers: { "idempotency-key": key } });
  const first = await send();
  await first.arrayBuffer();
  const second = await send();
  return { first, second, secondBody: await second.text() };
}

describe("koa: mounting oncely", () => {
  it("guards a router mounted after it", async () => {
    const runs = { count: 0 };
    const app = new Koa();
    const router = new Router();
    router.post("/charges", (ctx) => {
      ctx.status = 201;
      ctx.body = { run: ++runs.count };
    });
    app.use(idempotency(createIdempotency({ store: new MemoryStore() })));
    app.use(router.routes());
    server = await listen(createServer(app.callback()));
    const { second } = await postTwice(server.url);
    expect([second.status, second.headers.get("idempotent-replayed"), runs.count]).toEqual([201, "true", 1]);
  });

  it("refuses with a 500 problem and a log line when it is reached after the route's handler answered", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const runs = { count: 0 };
    const app = new Koa();
    const router = new Router();
    // A handler that calls next() after answering (a logging or timing pattern) lets a later middleware run.
    router.post("/charges", async (ctx, next) => {
      ctx.status = 201;
      ctx.body = { run: ++runs.count };
      await next();
    });
    app.use(router.routes());
    app.use(idempotency(createIdempotency({ store: new MemoryStore() })));
    server = await listen(createServer(app.callback()));
    const { first, second, secondBody } = await postTwice(server.url);
    expect([first.status, second.status]).toEqual([500, 500]);
    expect(second.headers.get("content-type")).toBe("application/problem+json");
    expect(JSON.parse(secondBody)).toMatchObject({ type: "urn:oncely:problem:unguarded-route" });
    expect(logged).toHaveBeenCalledTimes(1);
    expect(String(logged.mock.calls[0]?.[0])).toMatch(/POST \/charges.*answered before oncely.*app\.use\(idempotency/s);
  });
});
