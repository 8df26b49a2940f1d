import { createServer } from "node:http";
import { Controller, Get, Patch, Post, Put, Req, Res, type Type } from "@nestjs/common";
import type { RequestHandler } from "express";
import express5 from "express";
import express4 from "express4";
import fastify5, { type FastifyInstance, type FastifyRequest } from "fastify";
import fastify4 from "fastify4";
import { idempotency as expressIdempotency } from "../../../src/adapters/express/index.js";
import { idempotency as fastifyIdempotency } from "../../../src/adapters/fastify/index.js";
import { Idempotent, OncelyModule } from "../../../src/adapters/nest/index.js";
import type { IdempotencyContext } from "../../../src/index.js";
import type { RouteSpec, RunningServer, SpecResponse, StartServer } from "../../http/app-spec.js";
import { startFetch, startHono, startKoa, startNode } from "../../http/apps.js";
import { appModule, startNest } from "../../http/nest-apps.js";
import { listen, readStream, writeNode } from "../../http/servers.js";

/**
 * Every adapter, serving the given routes on a real 127.0.0.1 socket, each in its framework's usual setup: Express
 * with `express.json()` in front (other media types reach oncely unparsed), Fastify with its JSON and text parsers
 * plus a catch-all buffer parser, Nest with its platform's defaults, Koa, Hono, fetch and node:http with no parser.
 */
export interface Adapter {
  name: string;
  start: StartServer;
}

type ExpressFactory = (() => {
  [method: string]: unknown;
  use: (...handlers: unknown[]) => void;
}) & { json: (options: object) => RequestHandler };

const startExpress =
  (factory: ExpressFactory): StartServer =>
  async (idem, routes) => {
    const app = factory();
    app.use(factory.json({ limit: "4mb" }));
    for (const route of routes) {
      const handler: RequestHandler = async (req, res, next) => {
        try {
          const parsed = (req as { _body?: boolean })._body === true;
          const body = parsed ? serialised(req.body) : await readStream(req);
          writeNode(res, await route.handle({ body, context: req.idempotency }));
        } catch (error) {
          next(error);
        }
      };
      (app[route.method.toLowerCase()] as (...args: unknown[]) => void)(
        route.path,
        expressIdempotency(idem, route.options),
        handler,
      );
    }
    // A parser's own errors keep their 4xx status; anything else would show up as a 500.
    app.use(((error, _req, res, _next) => {
      res.status(error?.status ?? error?.statusCode ?? 500).send("error");
    }) as express5.ErrorRequestHandler);
    return listen(createServer(app as unknown as Parameters<typeof createServer>[1]));
  };

type FastifyFactory = (options?: object) => FastifyInstance;

function fastifyBody(request: FastifyRequest): Uint8Array {
  const body = request.body as unknown;
  if (body === undefined || body === null) return new Uint8Array(0);
  if (typeof body === "string") return Buffer.from(body);
  if (Buffer.isBuffer(body)) return body;
  return serialised(body);
}

/**
 * The handler's view of a body a parser turned into a value. JSON nested thousands deep parses but cannot be
 * stringified again (RangeError): the test handler then sees a placeholder instead of failing with a 500 of its own.
 */
export function serialised(value: unknown): Buffer {
  try {
    return Buffer.from(JSON.stringify(value) ?? "");
  } catch {
    return Buffer.from("(too deep to serialise)");
  }
}

const startFastify =
  (factory: FastifyFactory): StartServer =>
  async (idem, routes) => {
    const app = factory();
    app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
    await app.register(fastifyIdempotency(idem));
    for (const route of routes) {
      app.route({
        method: route.method,
        url: route.path,
        ...(route.options ? { config: { idempotency: route.options } } : {}),
        handler: async (request, reply) => {
          const out: SpecResponse = await route.handle({ body: fastifyBody(request), context: request.idempotency });
          reply.code(out.status);
          const grouped = new Map<string, string[]>();
          for (const [name, value] of out.headers) grouped.set(name, [...(grouped.get(name) ?? []), value]);
          for (const [name, values] of grouped) reply.header(name, values.length === 1 ? values[0] : values);
          return reply.send(typeof out.body === "string" ? Buffer.from(out.body) : out.body);
        },
      });
    }
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    return {
      url,
      close: async () => {
        app.server.closeAllConnections();
        await app.close();
      },
    };
  };

interface NestRequest {
  body?: unknown;
  idempotency?: IdempotencyContext;
}
interface NestReply {
  status?(code: number): NestReply;
  code?(code: number): NestReply;
  setHeader?(name: string, value: string | string[]): void;
  header?(name: string, value: string | string[]): NestReply;
  send(body: Buffer): void;
}

/**
 * The routes as one Nest controller, built as the decorators would build it; each handler answers through the
 * platform's own response object (`@Res()`). Like test/http/nest-apps.ts's, with a body too deep to stringify
 * tolerated (see `serialised`).
 */
function fuzzController(routes: RouteSpec[]): Type {
  class FuzzController {}
  const mappings = { GET: Get, POST: Post, PATCH: Patch, PUT: Put };
  routes.forEach((route, index) => {
    const name = `route${index}`;
    const handler = async (req: NestRequest, res: NestReply) => {
      const body = req.body === undefined || req.body === null ? Buffer.alloc(0) : serialised(req.body);
      const out = await route.handle({ body, context: req.idempotency });
      const grouped = new Map<string, string[]>();
      for (const [n, value] of out.headers) grouped.set(n, [...(grouped.get(n) ?? []), value]);
      const reply = res.status ? res.status(out.status) : res.code!(out.status);
      for (const [n, values] of grouped) {
        const value = values.length === 1 ? values[0]! : values;
        if (reply.setHeader) reply.setHeader(n, value);
        else reply.header!(n, value);
      }
      reply.send(Buffer.from(out.body));
    };
    Object.defineProperty(FuzzController.prototype, name, { value: handler, configurable: true, writable: true });
    const descriptor = Object.getOwnPropertyDescriptor(FuzzController.prototype, name)!;
    mappings[route.method](route.path)(FuzzController.prototype, name, descriptor);
    Idempotent(route.options)(FuzzController.prototype, name, descriptor);
    Req()(FuzzController.prototype, name, 0);
    Res()(FuzzController.prototype, name, 1);
  });
  Controller()(FuzzController);
  return FuzzController;
}

const startNestOn =
  (platform: "express" | "fastify"): StartServer =>
  (idem, routes) =>
    startNest(platform, appModule({ imports: [OncelyModule.forRoot(idem)], controllers: [fuzzController(routes)] }));

export const adapters: Adapter[] = [
  { name: "express 5", start: startExpress(express5 as unknown as ExpressFactory) },
  { name: "express 4", start: startExpress(express4 as unknown as ExpressFactory) },
  { name: "fastify 5", start: startFastify(fastify5 as unknown as FastifyFactory) },
  { name: "fastify 4", start: startFastify(fastify4 as unknown as FastifyFactory) },
  { name: "koa", start: startKoa },
  { name: "nest (express)", start: startNestOn("express") },
  { name: "nest (fastify)", start: startNestOn("fastify") },
  { name: "hono", start: startHono },
  { name: "fetch", start: startFetch },
  { name: "node:http", start: startNode },
];

/** The port of a running server. */
export function portOf(server: RunningServer): number {
  return Number(new URL(server.url).port);
}
