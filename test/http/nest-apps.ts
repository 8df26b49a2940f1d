import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Controller, Get, Module, Patch, Post, Put, Req, Res, type Type } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { ExpressAdapter } from "@nestjs/platform-express";
import { FastifyAdapter } from "@nestjs/platform-fastify";
import { Idempotent } from "../../src/adapters/nest/index.js";
import type { IdempotencyContext } from "../../src/index.js";
import type { RouteSpec, RunningServer, SpecResponse } from "./app-spec.js";

export type NestPlatform = "express" | "fastify";

export interface RunningNestApp extends RunningServer {
  app: Awaited<ReturnType<typeof NestFactory.create>>;
}

/** Boots a Nest app on the given platform and serves it on an ephemeral 127.0.0.1 port. */
export async function startNest(
  platform: NestPlatform,
  rootModule: Type,
  options: { rawBody?: boolean; fastifyLogger?: unknown; configure?: (app: RunningNestApp["app"]) => void } = {},
): Promise<RunningNestApp> {
  const adapter =
    platform === "express"
      ? new ExpressAdapter()
      : new FastifyAdapter(options.fastifyLogger ? { logger: options.fastifyLogger as never } : {});
  const app = await NestFactory.create(rootModule, adapter, { logger: false, rawBody: options.rawBody ?? false });
  options.configure?.(app);
  await app.listen(0, "127.0.0.1");
  const server = app.getHttpServer() as Server;
  const { port } = server.address() as AddressInfo;
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await app.close();
    },
  };
}

/** A module class for one app: Nest keys modules by class, so every app gets its own. */
export function appModule(metadata: Parameters<typeof Module>[0]): Type {
  class AppModule {}
  Module(metadata)(AppModule);
  return AppModule;
}

interface PlatformRequest {
  body?: unknown;
  rawBody?: Buffer;
  idempotency?: IdempotencyContext;
}

/** The body as the handler saw it: the exact bytes when Nest kept them (`rawBody: true`), else the parsed JSON. */
export function bodyText(req: PlatformRequest): string {
  if (req.rawBody) return req.rawBody.toString("utf8");
  return req.body === undefined || req.body === null ? "" : JSON.stringify(req.body);
}

/**
 * The semantics suite's routes as one controller, built the way the decorators would build it, each handler
 * answering through the platform's own response API (`@Res()`): Express `res.status().send()`, Fastify
 * `reply.code().header().send()`.
 */
export function specController(platform: NestPlatform, routes: RouteSpec[]): Type {
  class SpecController {}
  const mappings = { GET: Get, POST: Post, PATCH: Patch, PUT: Put };
  routes.forEach((route, index) => {
    const name = `route${index}`;
    const handler = async (req: PlatformRequest, res: unknown) => {
      const out = await route.handle({ body: Buffer.from(bodyText(req)), context: req.idempotency });
      send(platform, res, out);
    };
    Object.defineProperty(SpecController.prototype, name, { value: handler, configurable: true, writable: true });
    const descriptor = Object.getOwnPropertyDescriptor(SpecController.prototype, name)!;
    mappings[route.method](route.path)(SpecController.prototype, name, descriptor);
    Idempotent(route.options)(SpecController.prototype, name, descriptor);
    Req()(SpecController.prototype, name, 0);
    Res()(SpecController.prototype, name, 1);
  });
  Controller()(SpecController);
  return SpecController;
}

interface ExpressResponseLike {
  status(code: number): ExpressResponseLike;
  setHeader(name: string, value: string | string[]): void;
  send(body: Buffer): void;
}
interface FastifyReplyLike {
  code(code: number): FastifyReplyLike;
  header(name: string, value: string | string[]): FastifyReplyLike;
  send(body: Buffer): void;
}

function send(platform: NestPlatform, res: unknown, out: SpecResponse): void {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of out.headers) grouped.set(name, [...(grouped.get(name) ?? []), value]);
  const body = Buffer.from(out.body);
  if (platform === "express") {
    // setHeader, not res.set(): Express's set() would add "; charset=utf-8" to the spec's Content-Type.
    const response = (res as ExpressResponseLike).status(out.status);
    for (const [name, values] of grouped) response.setHeader(name, values.length === 1 ? values[0]! : values);
    response.send(body);
  } else {
    const reply = (res as FastifyReplyLike).code(out.status);
    for (const [name, values] of grouped) reply.header(name, values.length === 1 ? values[0]! : values);
    reply.send(body);
  }
}
