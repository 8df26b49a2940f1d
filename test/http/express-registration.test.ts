import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import express5, { type Express } from "express";
import express4 from "express4";
import { afterEach, describe, expect, it, vi } from "vitest";
import { idempotency } from "../../src/adapters/express/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "./app-spec.js";
import { listen } from "./servers.js";

// Express has no registration hook: `app.use(idempotency(idem))` after the routes is never reached by their
// requests, and nothing runs at startup to notice. oncely says so on the first request that does reach it.

const versions: [string, () => Express][] = [
  ["express 5", express5],
  ["express 4", express4 as unknown as () => Express],
];

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  vi.restoreAllMocks();
});

const post = (url: string, path: string, key = randomUUID()) =>
  fetch(`${url}${path}`, { method: "POST", headers: { "idempotency-key": key } });

for (const [version, factory] of versions) {
  describe(`${version}: mounting oncely`, () => {
    it("guards the routes declared after app.use(idempotency(idem))", async () => {
      const runs = { count: 0 };
      const app = factory();
      app.use(idempotency(createIdempotency({ store: new MemoryStore() })));
      app.post("/charges", (_req, res) => {
        res.status(201).json({ run: ++runs.count });
      });
      server = await listen(createServer(app));
      const key = randomUUID();
      await (await post(server.url, "/charges", key)).arrayBuffer();
      const second = await post(server.url, "/charges", key);
      expect([second.headers.get("idempotent-replayed"), runs.count]).toEqual(["true", 1]);
    });

    it("logs the routes and routers declared before it, on the first request that reaches it", async () => {
      const logged = vi.spyOn(console, "error").mockImplementation(() => {});
      const app = factory();
      app.post("/charges", (_req, res) => {
        res.status(201).end();
      });
      const api = (factory as unknown as typeof express5).Router();
      api.post("/refunds", (_req, res) => res.status(201).end());
      app.use("/api", api);
      app.get("/charges", (_req, res) => res.end());
      app.use(idempotency(createIdempotency({ store: new MemoryStore() })));
      server = await listen(createServer(app));
      await (await post(server.url, "/missing")).arrayBuffer();
      await (await post(server.url, "/missing")).arrayBuffer();
      expect(logged).toHaveBeenCalledTimes(1);
      const line = String(logged.mock.calls[0]?.[0]);
      expect(line).toMatch(/POST \/charges, POST \/refunds .*declared before app\.use\(idempotency\(idem\)\)/s);
      expect(line).not.toMatch(/GET/);
    });

    it("logs a route whose handler answered and called next() before it ran", async () => {
      const logged = vi.spyOn(console, "error").mockImplementation(() => {});
      const app = factory();
      app.post("/charges", (_req, res, next) => {
        res.status(201).end();
        next();
      });
      app.use(idempotency(createIdempotency({ store: new MemoryStore() })));
      server = await listen(createServer(app));
      expect((await post(server.url, "/charges")).status).toBe(201);
      await vi.waitFor(() => expect(logged).toHaveBeenCalled());
      expect(String(logged.mock.calls.at(-1)?.[0])).toMatch(/POST \/charges was answered before oncely ran/);
    });
  });
}
