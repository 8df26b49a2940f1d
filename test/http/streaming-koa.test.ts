import { createServer } from "node:http";
import Koa from "koa";
import { afterEach, describe, expect, it } from "vitest";
import { idempotency } from "../../src/adapters/koa/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "./app-spec.js";
import { listen } from "./servers.js";
import { describeStreaming } from "./streaming.js";
import { streamingKoaRaw, streamingKoaWebStream } from "./streaming-apps.js";

// The other ways a Koa handler streams (a Node.js stream in `ctx.body` is in streaming.test.ts): Koa destroys or
// cancels each body stream when its client leaves, and oncely keeps the handler's running for a retry to follow.
describeStreaming("koa, a web ReadableStream in ctx.body", streamingKoaWebStream);
describeStreaming("koa, writing to ctx.res (ctx.respond = false)", streamingKoaRaw);

describe("koa: a streaming route that answers with bytes", () => {
  const servers: RunningServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  it("records a body of bytes whole, before Koa sends it: a retry replays it, one run", async () => {
    let runs = 0;
    const app = new Koa();
    app.use(idempotency(createIdempotency({ store: new MemoryStore(), logger: false }), { stream: true }));
    app.use((ctx) => {
      ctx.status = 201;
      ctx.body = { run: ++runs };
    });
    const server = await listen(createServer(app.callback()));
    servers.push(server);
    const send = () => fetch(`${server.url}/charges`, { method: "POST", headers: { "idempotency-key": "bytes" } });
    const first = await send();
    expect([first.status, await first.json()]).toEqual([201, { run: 1 }]);
    const retry = await send();
    expect([retry.status, retry.headers.get("idempotent-replayed"), await retry.json()]).toEqual([
      201,
      "true",
      { run: 1 },
    ]);
    expect(retry.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(runs).toBe(1);
  });
});
