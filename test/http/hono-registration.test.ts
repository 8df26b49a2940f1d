import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";
import { afterEach, describe, expect, it } from "vitest";
import { idempotency } from "../../src/adapters/hono/index.js";
import { createIdempotency, type Idempotency, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "./app-spec.js";
import { listen } from "./servers.js";

// Hono runs a middleware only for routes added after it, and `app.route(path, sub)` copies the sub-app's routes and
// middleware as they are at that call. A middleware is told nothing about routes, so a wrong order cannot be
// detected: these tests pin the orders the README shows as the ones that guard.

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Serves `app` and sends the same keyed POST to `path` twice; returns the second answer and the handler's runs. */
async function postTwice(app: Hono, path: string, runs: { count: number }) {
  server = await listen(createAdaptorServer({ fetch: app.fetch }) as Server);
  const key = randomUUID();
  const send = () => fetch(`${server?.url}${path}`, { method: "POST", headers: { "idempotency-key": key } });
  await (await send()).arrayBuffer();
  const second = await send();
  return { replayed: second.headers.get("idempotent-replayed"), runs: runs.count };
}

function charges() {
  const runs = { count: 0 };
  const handler = (c: { json(body: unknown, status: 201): Response }) => c.json({ run: ++runs.count }, 201);
  return { runs, handler };
}

const newIdem = (): Idempotency => createIdempotency({ store: new MemoryStore() });

describe("hono: where the middleware goes", () => {
  it("guards a route added after app.use(path/*), the path itself included", async () => {
    const { runs, handler } = charges();
    const app = new Hono();
    app.use("/charges/*", idempotency(newIdem()));
    app.post("/charges", handler);
    expect(await postTwice(app, "/charges", runs)).toEqual({ replayed: "true", runs: 1 });
  });

  it("guards a sub-app's routes when the parent's middleware comes before app.route()", async () => {
    const { runs, handler } = charges();
    const api = new Hono();
    api.post("/charges", handler);
    const app = new Hono();
    app.use("*", idempotency(newIdem()));
    app.route("/api", api);
    expect(await postTwice(app, "/api/charges", runs)).toEqual({ replayed: "true", runs: 1 });
  });

  it("guards a sub-app's routes when the sub-app's middleware comes before its routes", async () => {
    const { runs, handler } = charges();
    const api = new Hono();
    api.use("*", idempotency(newIdem()));
    api.post("/charges", handler);
    const app = new Hono();
    app.route("/api", api);
    expect(await postTwice(app, "/api/charges", runs)).toEqual({ replayed: "true", runs: 1 });
  });
});
