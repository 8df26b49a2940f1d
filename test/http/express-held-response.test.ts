import { createServer, IncomingMessage, type ServerResponse } from "node:http";
import express, { type NextFunction, type Request, type Response } from "express";
import Router from "router";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotency } from "../../src/adapters/express/index.js";
import type { IdempotencyContext } from "../../src/core/context.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "./app-spec.js";
import { listen, serveNode } from "./servers.js";

/**
 * oncely holds a response through methods on the response class, and puts itself in front of whatever wraps a
 * response's methods before it runs (compression, a logger). Middleware that wraps `res.end` per response, before or
 * after oncely, keeps working as it did, and responses oncely does not hold pass straight through.
 */

/**
 * Like compression(): rewrites the body on its way out (here it prefixes it), so the length is unknown when the headers
 * go out (it drops Content-Length, as compression does through on-headers), and ignores an `end` after the first.
 */
function prefixing(req: Request, res: Response, next: NextFunction) {
  const { writeHead, end } = res;
  let ended = false;
  res.writeHead = function unsizedWriteHead(this: ServerResponse, status: number, headers?: unknown) {
    const pairs = Array.isArray(headers) ? headers : Object.entries(headers ?? {}).flat();
    for (let i = 0; i < pairs.length; i += 2) this.setHeader(pairs[i], pairs[i + 1]);
    this.removeHeader("content-length");
    return writeHead.call(this, status);
  } as Response["writeHead"];
  res.end = function prefixedEnd(this: ServerResponse, chunk?: unknown) {
    if (ended) return this;
    ended = true;
    if (!this.headersSent) this.writeHead(this.statusCode);
    const body = `<${req.path}>${chunk === undefined ? "" : Buffer.from(chunk as string).toString()}`;
    return (end as (this: ServerResponse, body: string) => ServerResponse).call(this, body);
  } as Response["end"];
  next();
}

describe("express: oncely with other middleware that wraps the response", () => {
  let server: RunningServer;
  let plain: RunningServer;
  let routed: RunningServer;
  const runs = new Map<string, number>();
  const run = (name: string) => {
    runs.set(name, (runs.get(name) ?? 0) + 1);
    return runs.get(name)!;
  };
  const seen = new Map<string, IdempotencyContext | undefined>();

  beforeAll(async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    const app = express();
    // Mounted before oncely, as compression() should be: oncely stores the body as the handler wrote it.
    app.post("/wrapped-before", prefixing, idempotency(idem), (_req, res) => {
      res.type("text/plain").send(`run ${run("wrapped-before")}`);
    });
    // Mounted after oncely: its rewrite is part of what is stored, and the held answer goes out once, not through it
    // again (it would drop a second end, and the client would wait for ever).
    app.post("/wrapped-after", idempotency(idem), prefixing, (_req, res) => {
      res.type("text/plain").send(`run ${run("wrapped-after")}`);
    });
    // Two oncely guards on one request: the outer one stores what the inner one sends.
    const other = createIdempotency({ store: new MemoryStore() });
    app.post("/twice-guarded", idempotency(other), idempotency(idem), (_req, res) => {
      res.status(201).json({ run: run("twice-guarded") });
    });
    // The context outlives the answer: a handler may read it after sending.
    app.post("/context-after-send", idempotency(idem), (req, res) => {
      res.json({ run: run("context-after-send") });
      setImmediate(() => seen.set("after send", req.idempotency));
    });
    const sub = express();
    sub.post("/charges", (req, res) => {
      seen.set("sub-app", req.idempotency);
      res.json({ run: run("sub-app") });
    });
    app.use("/sub", idempotency(idem), sub);
    app.post("/assigned", (req, res) => {
      seen.set("unguarded", req.idempotency);
      req.idempotency = { key: "set by the app" } as IdempotencyContext;
      res.json({ key: req.idempotency.key });
    });
    server = await listen(createServer(app));
    // A connect-style router on plain node:http: its requests are Node's own IncomingMessage.
    const router = new Router();
    const guard = idempotency(idem) as unknown as Router.RequestHandler;
    router.post("/charges", guard, (req, res) => {
      seen.set("router", (req as Request).idempotency);
      res.end("ok");
    });
    routed = await serveNode((req, res) => router(req, res, () => res.end("no route")));
    // A server in the same process that oncely does not guard: its responses pass through untouched.
    plain = await serveNode((_req, res) => {
      res.writeHead(202, { "x-plain": "yes" });
      res.write("plain ");
      res.end("answer");
    });
  });
  afterAll(async () => {
    await server.close();
    await plain.close();
    await routed.close();
  });

  const post = (path: string, key?: string) =>
    fetch(`${server.url}${path}`, { method: "POST", headers: key ? { "idempotency-key": key } : {} });

  it("stores the body as the handler wrote it when a wrapper runs before oncely, and sends it through the wrapper", async () => {
    const first = await post("/wrapped-before", "before-1");
    expect(await first.text()).toBe("</wrapped-before>run 1");
    const replay = await post("/wrapped-before", "before-1");
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.text()).toBe("</wrapped-before>run 1");
    expect(runs.get("wrapped-before")).toBe(1);
  });

  it("stores what a wrapper after oncely made of the body, and sends the held answer once", async () => {
    const first = await post("/wrapped-after", "after-1");
    expect(await first.text()).toBe("</wrapped-after>run 1");
    const replay = await post("/wrapped-after", "after-1");
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.text()).toBe("</wrapped-after>run 1");
    expect(runs.get("wrapped-after")).toBe(1);
  });

  it("holds a response guarded twice until both guards stored it", async () => {
    const first = await post("/twice-guarded", "twice-1");
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({ run: 1 });
    const replay = await post("/twice-guarded", "twice-1");
    expect(replay.status).toBe(201);
    expect(await replay.json()).toEqual({ run: 1 });
    expect(runs.get("twice-guarded")).toBe(1);
  });

  it("leaves responses it does not hold alone", async () => {
    const answer = await fetch(`${plain.url}/`);
    expect(answer.status).toBe(202);
    expect(answer.headers.get("x-plain")).toBe("yes");
    expect(await answer.text()).toBe("plain answer");
  });

  it("gives req.idempotency after the answer went out, in a mounted app, and lets an unguarded request assign it", async () => {
    await (await post("/context-after-send", "context-1")).arrayBuffer();
    await expect.poll(() => seen.get("after send")?.key).toBe("context-1");
    await (await post("/sub/charges", "sub-1")).arrayBuffer();
    expect(seen.get("sub-app")?.key).toBe("sub-1");
    expect(await (await post("/assigned")).json()).toEqual({ key: "set by the app" });
    expect(seen.has("unguarded")).toBe(true);
    expect(seen.get("unguarded")).toBeUndefined();
  });

  it("gives req.idempotency under a router on plain node:http, and leaves Node's IncomingMessage alone", async () => {
    await (await fetch(`${routed.url}/charges`, { method: "POST", headers: { "idempotency-key": "routed-1" } })).text();
    expect(seen.get("router")?.key).toBe("routed-1");
    expect(Object.hasOwn(IncomingMessage.prototype, "idempotency")).toBe(false);
  });
});
