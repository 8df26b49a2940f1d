import { createServer } from "node:http";
import type { Request as ExpressRequest, RequestHandler } from "express";
import express5 from "express";
import express4 from "express4";
import { describe, expect, it } from "vitest";
import { idempotency } from "../../src/adapters/express/index.js";
import { createIdempotency, type IdempotencyRequest, MemoryStore } from "../../src/index.js";
import type { StartServer } from "./app-spec.js";
import { describeHttpSemantics } from "./semantics.js";
import { listen, readStream, writeNode } from "./servers.js";

type ExpressFactory = () => {
  [method: string]: unknown;
  use: (...handlers: unknown[]) => void;
};

/** With `parser`, `express.json()` runs before oncely on every route, as the Quick start mounts it. */
const startExpress =
  (factory: ExpressFactory, parser?: () => RequestHandler): StartServer =>
  async (idem, routes) => {
    const app = factory();
    for (const route of routes) {
      const handler: RequestHandler = async (req, res, next) => {
        try {
          const body = parser ? Buffer.from(JSON.stringify(req.body ?? "")) : await readStream(req);
          writeNode(res, await route.handle({ body, context: req.idempotency }));
        } catch (error) {
          next(error);
        }
      };
      (app[route.method.toLowerCase()] as (...args: unknown[]) => void)(
        route.path,
        ...(parser ? [parser()] : []),
        idempotency(idem, route.options),
        handler,
      );
    }
    app.use(((_error, _req, res, _next) => {
      res.status(500).send("internal error");
    }) as express5.ErrorRequestHandler);
    return listen(createServer(app as unknown as Parameters<typeof createServer>[1]));
  };

describeHttpSemantics("express 5", startExpress(express5 as unknown as ExpressFactory));
describeHttpSemantics("express 4", startExpress(express4 as unknown as ExpressFactory));
// express.json() before oncely: oncely sees the parsed value only (see HttpCapabilities.bodyBytes).
describeHttpSemantics(
  "express 5 after express.json()",
  startExpress(express5 as unknown as ExpressFactory, express5.json),
  {
    bodyBytes: false,
  },
);

describe("express: scope reads what auth middleware set on req, as request.raw", () => {
  it("keeps users apart by request.raw.user.id", async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    const app = express5();
    let runs = 0;
    app.use((req, _res, next) => {
      (req as ExpressRequest & { user?: { id: number } }).user = { id: Number(req.get("x-user")) };
      next();
    });
    const scope = (request: IdempotencyRequest<ExpressRequest>) =>
      (request.raw as ExpressRequest & { user: { id: number } }).user.id;
    app.post("/charges", express5.json(), idempotency(idem, { scope }), (_req, res) => {
      res.status(201).json({ run: ++runs });
    });
    const server = await listen(createServer(app));
    try {
      const post = (user: string) =>
        fetch(`${server.url}/charges`, {
          method: "POST",
          headers: { "content-type": "application/json", "idempotency-key": "same-key", "x-user": user },
          body: "{}",
        });
      expect((await post("1")).status).toBe(201);
      expect((await post("2")).headers.get("idempotent-replayed")).toBeNull();
      expect((await post("1")).headers.get("idempotent-replayed")).toBe("true");
      expect(runs).toBe(2);
    } finally {
      await server.close();
    }
  });
});
