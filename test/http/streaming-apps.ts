import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { createAdaptorServer } from "@hono/node-server";
import { Controller, Post, Res } from "@nestjs/common";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import Koa from "koa";
import { idempotency as expressIdempotency } from "../../src/adapters/express/index.js";
import { idempotency as fastifyIdempotency } from "../../src/adapters/fastify/index.js";
import { withIdempotency as fetchIdempotency } from "../../src/adapters/fetch/index.js";
import { idempotency as honoIdempotency } from "../../src/adapters/hono/index.js";
import { idempotency as koaIdempotency } from "../../src/adapters/koa/index.js";
import { Idempotent, OncelyModule } from "../../src/adapters/nest/index.js";
import { withIdempotency as nodeIdempotency } from "../../src/adapters/node/index.js";
import { createProxy } from "../../src/cli/proxy/proxy.js";
import type { Idempotency, RouteOptions } from "../../src/index.js";
import type { RunningServer } from "./app-spec.js";
import { appModule, type NestPlatform, startNest } from "./nest-apps.js";
import { listen, readStream } from "./servers.js";

// One streaming route, `POST /stream`, served by every adapter that streams, each in its framework's own idiom: the
// handler writes the chunks it is given one by one, waiting on `pace` before each, as a model's tokens arrive.

/** What the streaming route's handler writes, and how it is paced. */
export interface StreamRoute {
  options?: RouteOptions;
  contentType: string;
  chunks: string[];
  /** Resolves when chunk `index` may be written. */
  pace: (index: number) => Promise<void>;
  /** The handler fails (throws, or errors its body) instead of writing chunk `failAt`. */
  failAt?: number;
  /** Counts the handler's runs. */
  runs: number;
}

export type StartStreaming = (idem: Idempotency, route: StreamRoute) => Promise<RunningServer>;

/** Writes the route's chunks to a node:http response (node:http and Express handlers). */
async function writeChunks(req: IncomingMessage, res: ServerResponse, route: StreamRoute): Promise<void> {
  await readStream(req);
  await writeStream(res, route);
}

/** Writes the route's chunks to a node:http response whose request was read already (NestJS parsed it). */
async function writeStream(res: ServerResponse, route: StreamRoute): Promise<void> {
  route.runs++;
  res.writeHead(200, { "content-type": route.contentType, "cache-control": "no-cache" });
  for (const [index, chunk] of route.chunks.entries()) {
    await route.pace(index);
    if (index === route.failAt) throw new Error("the model failed mid-stream");
    res.write(chunk);
  }
  res.end();
}

/** The route's chunks as a fetch Response body (fetch and Hono handlers). */
function chunkResponse(route: StreamRoute): Response {
  route.runs++;
  const encoder = new TextEncoder();
  let index = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (index === route.chunks.length) return controller.close();
      await route.pace(index);
      if (index === route.failAt) return controller.error(new Error("the model failed mid-stream"));
      controller.enqueue(encoder.encode(route.chunks[index++]));
    },
  });
  return new Response(body, { headers: { "content-type": route.contentType, "cache-control": "no-cache" } });
}

const streamOptions = (route: StreamRoute): RouteOptions => ({ stream: true, ...route.options });

export const streamingNode: StartStreaming = (idem, route) => {
  const handler = nodeIdempotency(idem, (req, res) => writeChunks(req, res, route), streamOptions(route));
  return listen(
    createServer((req, res) => {
      handler(req, res).catch(() => {});
    }),
  );
};

export const streamingExpress: StartStreaming = (idem, route) => {
  const app = express();
  app.post("/stream", expressIdempotency(idem, streamOptions(route)), (req, res) => writeChunks(req, res, route));
  return listen(createServer(app));
};

export const streamingFetch: StartStreaming = (idem, route) => {
  const handler = fetchIdempotency(
    idem,
    async (request) => {
      await request.arrayBuffer();
      return chunkResponse(route);
    },
    streamOptions(route),
  );
  return listen(createAdaptorServer({ fetch: handler }) as Server);
};

export const streamingFastify: StartStreaming = async (idem, route) => {
  const app = Fastify();
  await app.register(fastifyIdempotency(idem, streamOptions(route)));
  // A Node.js stream of the chunks, as a Fastify handler streams: Fastify pipes it to the response.
  app.post("/stream", async (_request, reply) => {
    route.runs++;
    reply.header("content-type", route.contentType).header("cache-control", "no-cache");
    return reply.send(Readable.from(paced(route)));
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
};

export const streamingKoa: StartStreaming = (idem, route) => {
  const app = new Koa();
  // The handler's failures mid-stream are the tests' own; Koa would log each.
  app.silent = true;
  app.use(koaIdempotency(idem, streamOptions(route)));
  // A Node.js stream of the chunks as `ctx.body`, as a Koa handler streams: Koa pipes it to the response.
  app.use((ctx) => {
    route.runs++;
    ctx.set({ "content-type": route.contentType, "cache-control": "no-cache" });
    ctx.body = Readable.from(paced(route));
  });
  return listen(createServer(app.callback()));
};

/** Koa, with the chunks as a web `ReadableStream` in `ctx.body`. */
export const streamingKoaWebStream: StartStreaming = (idem, route) => {
  const app = new Koa();
  app.silent = true;
  app.use(koaIdempotency(idem, streamOptions(route)));
  app.use((ctx) => {
    const response = chunkResponse(route);
    ctx.set({ "content-type": route.contentType, "cache-control": "no-cache" });
    ctx.body = response.body;
  });
  return listen(createServer(app.callback()));
};

/** Koa, with the handler writing to `ctx.res` itself (`ctx.respond = false`), as a Koa handler holds SSE open. */
export const streamingKoaRaw: StartStreaming = (idem, route) => {
  const app = new Koa();
  app.silent = true;
  app.use(koaIdempotency(idem, streamOptions(route)));
  app.use(async (ctx) => {
    ctx.respond = false;
    await writeChunks(ctx.req, ctx.res, route);
  });
  return listen(createServer(app.callback()));
};

/**
 * `oncely proxy` in front of a plain node:http upstream with no oncely in it (`runs` counts real upstream runs),
 * streaming the chunks; a run that fails is an upstream that dies mid-stream (its connection destroyed).
 */
export const streamingProxy: StartStreaming = async (idem, route) => {
  const upstream = await listen(
    createServer((req, res) => {
      // Dies as a process does: the connection closes after what was written, without the body's end. Closed on the
      // next turn of the event loop: Node.js 24 holds a response's writes until the end of the tick (the socket is
      // corked), so a socket ended at once would drop the chunks written just before the failure.
      writeChunks(req, res, route).catch(() => setImmediate(() => res.socket?.destroySoon()));
    }),
  );
  const proxy = createProxy({
    idem,
    upstream: upstream.url,
    routes: [{ route: "POST /stream", options: streamOptions(route) }],
  });
  const front = await listen(createServer(proxy.handle));
  return {
    url: front.url,
    async close() {
      await front.close();
      await proxy.close();
      await upstream.close();
    },
  };
};

/**
 * NestJS on `platform`, as a Nest handler streams: it takes the response with `@Res()` and writes the chunks to it
 * (Express `res`, Fastify `reply.raw`).
 */
const streamingNest =
  (platform: NestPlatform): StartStreaming =>
  (idem, route) => {
    class StreamController {
      async stream(res: ServerResponse | { raw: ServerResponse }): Promise<void> {
        await writeStream("raw" in res ? res.raw : res, route);
      }
    }
    const proto = StreamController.prototype;
    const descriptor = Object.getOwnPropertyDescriptor(proto, "stream")!;
    // In the order TypeScript applies them: the parameter's first, then the method's from the bottom up.
    Res()(proto, "stream", 0);
    Idempotent(streamOptions(route))(proto, "stream", descriptor);
    Post("stream")(proto, "stream", descriptor);
    Controller()(StreamController);
    const root = appModule({ imports: [OncelyModule.forRoot(idem)], controllers: [StreamController] });
    return startNest(platform, root);
  };
export const streamingNestExpress = streamingNest("express");
export const streamingNestFastify = streamingNest("fastify");

/** The route's chunks, each after its pace; throws instead of chunk `failAt`. */
async function* paced(route: StreamRoute): AsyncGenerator<Buffer> {
  for (const [index, chunk] of route.chunks.entries()) {
    await route.pace(index);
    if (index === route.failAt) throw new Error("the model failed mid-stream");
    yield Buffer.from(chunk);
  }
}

export const streamingHono: StartStreaming = (idem, route) => {
  const app = new Hono();
  app.post("/stream", honoIdempotency(idem, streamOptions(route)), async (c) => {
    await c.req.arrayBuffer();
    return chunkResponse(route);
  });
  return listen(createAdaptorServer({ fetch: app.fetch }) as Server);
};

/** Every adapter that streams, each in its framework's usual idiom: the shared streaming cases run on each. */
export const STREAMING_ADAPTERS: [name: string, start: StartStreaming][] = [
  ["node:http", streamingNode],
  ["express", streamingExpress],
  ["fastify", streamingFastify],
  ["fetch", streamingFetch],
  ["hono", streamingHono],
  ["koa", streamingKoa],
  ["oncely proxy", streamingProxy],
  ["nest (express)", streamingNestExpress],
  ["nest (fastify)", streamingNestFastify],
];

/** A streamed answer as a client reads it over a real socket, chunk by chunk as they arrive. */
export interface StreamedCall {
  status: number;
  headers: IncomingMessage["headers"];
  /** The bytes received so far, as text. */
  text(): string;
  /** Resolves when the response has ended normally; rejects when it was cut off. */
  done: Promise<string>;
  /** Drops the connection (the client goes away mid-stream). */
  drop(): void;
}

/** POSTs `body` to the streaming route (or `path`) with `key`, and resolves once the answer's head has arrived. */
export function callStream(
  url: string,
  key: string,
  headers: Record<string, string> = {},
  { path = "/stream", body = "{}", read = true }: { path?: string; body?: string; read?: boolean } = {},
): Promise<StreamedCall> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, {
      method: "POST",
      headers: { "idempotency-key": key, "content-type": "application/json", ...headers },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      // A client that does not read leaves the bytes in the socket: the server's writes back up.
      if (read) res.on("data", (chunk: Buffer) => chunks.push(chunk));
      const text = () => Buffer.concat(chunks).toString("utf8");
      const done = new Promise<string>((ended, failed) => {
        res.on("end", () => ended(text()));
        res.on("error", failed);
        res.on("aborted", () => failed(new Error("the response was cut off")));
      });
      done.catch(() => {});
      resolve({ status: res.statusCode!, headers: res.headers, text, done, drop: () => req.destroy() });
    });
    req.end(body);
  });
}

/** A gate the handler waits on: `open()` lets every waiting and later chunk through. */
export function gate(): { wait: () => Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait: () => opened, open };
}
