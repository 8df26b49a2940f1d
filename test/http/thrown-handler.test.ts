import { createServer, type Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import Router from "@koa/router";
import Fastify from "fastify";
import { Hono } from "hono";
import Koa from "koa";
import { afterAll, describe, expect, it } from "vitest";
import { idempotency as fastifyIdempotency } from "../../src/adapters/fastify/index.js";
import { withIdempotency as fetchIdempotency } from "../../src/adapters/fetch/index.js";
import { idempotency as honoIdempotency } from "../../src/adapters/hono/index.js";
import { idempotency as koaIdempotency } from "../../src/adapters/koa/index.js";
import { withIdempotency as nodeIdempotency } from "../../src/adapters/node/index.js";
import { createIdempotency, type Idempotency, MemoryStore } from "../../src/index.js";
import { listen } from "./servers.js";

// A handler that threw releases its key whatever the error path answers: the framework's error handler may answer
// 400 (or 200), and that answer is not the handler's result. Express has its own raw-socket regression
// (test/regressions/error-answer-after-partial-write.test.ts); this is every other adapter, over real HTTP.

interface Started {
  url: string;
  close(): Promise<void>;
}

const failure = () => new Error("the handler failed");

/** Each adapter's app: POST /charges counts a run and throws; the framework's error path answers 400. */
const adapters: Record<string, (idem: Idempotency, run: () => void) => Promise<Started>> = {
  async koa(idem, run) {
    const app = new Koa();
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch {
        ctx.status = 400;
        ctx.body = { error: "bad request" };
      }
    });
    const router = new Router();
    router.post("/charges", koaIdempotency(idem), () => {
      run();
      throw failure();
    });
    app.use(router.routes());
    return listen(createServer(app.callback()));
  },
  async fastify(idem, run) {
    const app = Fastify();
    app.setErrorHandler((_error, _request, reply) => reply.code(400).send({ error: "bad request" }));
    await app.register(fastifyIdempotency(idem));
    app.post("/charges", async () => {
      run();
      throw failure();
    });
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    return { url, close: () => app.close() };
  },
  async hono(idem, run) {
    const app = new Hono();
    app.onError((_error, c) => c.json({ error: "bad request" }, 400));
    app.post("/charges", honoIdempotency(idem), () => {
      run();
      throw failure();
    });
    return listen(createAdaptorServer({ fetch: app.fetch }) as Server);
  },
  async fetch(idem, run) {
    const handler = fetchIdempotency(idem, () => {
      run();
      throw failure();
    });
    // The host's own error handling (a Next.js error boundary, a Worker's catch) answers 400.
    const answer = async (request: Request) => {
      try {
        return await handler(request);
      } catch {
        return Response.json({ error: "bad request" }, { status: 400 });
      }
    };
    return listen(
      createServer(async (req, res) => {
        const response = await answer(
          new Request(`http://127.0.0.1${req.url}`, {
            method: req.method,
            headers: req.headers as Record<string, string>,
          }),
        );
        res.statusCode = response.status;
        res.end(Buffer.from(await response.arrayBuffer()));
      }),
    );
  },
  async node(idem, run) {
    const handler = nodeIdempotency(idem, () => {
      run();
      throw failure();
    });
    // The server's own catch answers 400 (oncely has ended the response as a 500 by then; that end is still held).
    return listen(
      createServer((req, res) => {
        handler(req, res).catch(() => {
          if (!res.writableEnded) {
            res.statusCode = 400;
            res.end();
          }
        });
      }),
    );
  },
};

describe("a handler that threw releases its key, whatever its framework's error path answers", () => {
  const started: Started[] = [];
  afterAll(async () => {
    for (const server of started) await server.close();
  });

  for (const [name, start] of Object.entries(adapters)) {
    it(`${name}: the retry runs the handler again`, async () => {
      let runs = 0;
      const server = await start(createIdempotency({ store: new MemoryStore() }), () => {
        runs += 1;
      });
      started.push(server);
      const post = () => fetch(`${server.url}/charges`, { method: "POST", headers: { "idempotency-key": "threw" } });
      const first = await post();
      const retry = await post();
      expect(first.status).toBe(400);
      expect(retry.status).toBe(400);
      expect(retry.headers.get("idempotent-replayed")).toBeNull();
      expect(runs).toBe(2);
    });
  }
});
