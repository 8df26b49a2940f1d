import { createServer } from "node:http";
import { Readable } from "node:stream";
import Router from "@koa/router";
import Koa, { type Context, type DefaultState, type Next } from "koa";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { idempotency } from "../../src/adapters/koa/index.js";
import { createIdempotency, type IdempotencyContext, type IdempotencyEvent, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "./app-spec.js";
import { startKoa } from "./apps.js";
import { describeHttpSemantics } from "./semantics.js";
import { listen, readStream } from "./servers.js";

describeHttpSemantics("koa", startKoa);

describe("koa: types", () => {
  it("types ctx.state.idempotency", () => {
    expectTypeOf<DefaultState["idempotency"]>().toEqualTypeOf<IdempotencyContext | undefined>();
    expectTypeOf<Context["state"]["idempotency"]>().toEqualTypeOf<IdempotencyContext | undefined>();
  });
});

/** A minimal JSON body parser, standing in for @koa/bodyparser: reads the stream, sets `ctx.request.body`. */
async function jsonParser(ctx: Context, next: Next) {
  if (ctx.is("application/json")) {
    const text = Buffer.from(await readStream(ctx.req)).toString();
    (ctx.request as { body?: unknown }).body = text ? JSON.parse(text) : undefined;
  }
  await next();
}

describe("koa: body shapes, parsers and oncely's own answers", () => {
  let server: RunningServer;
  const events: IdempotencyEvent[] = [];
  const runs = new Map<string, number>();
  const count = (what: string) => {
    runs.set(what, (runs.get(what) ?? 0) + 1);
    return runs.get(what)!;
  };
  let release = () => {};

  beforeAll(async () => {
    const idem = createIdempotency({ store: new MemoryStore(), onEvent: (event) => events.push(event) });
    const app = new Koa();
    app.silent = true;
    // Outer middleware: a header set before oncely, and a look at what ctx.body is once oncely is done.
    app.use(async (ctx, next) => {
      ctx.set("x-request-id", "outer");
      await next();
      ctx.set("x-body-kind", Buffer.isBuffer(ctx.body) ? "buffer" : ctx.body === null ? "null" : typeof ctx.body);
    });
    const router = new Router();
    const guarded = idempotency(idem);
    router.post("/string", guarded, (ctx) => {
      ctx.body = `<p>run ${count("string")}: ünïcödé</p>`;
    });
    router.post("/buffer", guarded, (ctx) => {
      ctx.status = 201;
      ctx.body = Buffer.from([0, 255, count("buffer"), 10, 13]);
    });
    router.post("/json", guarded, (ctx) => {
      ctx.status = 201;
      ctx.set("x-charge", "ch_1");
      ctx.body = { n: count("json"), nested: { b: [1, 2], a: "ü" } };
    });
    router.post("/stream", guarded, (ctx) => {
      ctx.type = "text/csv";
      ctx.body = Readable.from(["a,b\n", Buffer.from("1,2\n"), `run,${count("stream")}\n`]);
    });
    router.post("/big-stream", idempotency(idem, { maxResponseBytes: 1000 }), (ctx) => {
      count("big-stream");
      ctx.type = "text/plain";
      ctx.body = Readable.from(Array.from({ length: 50 }, (_, i) => `${String(i).padStart(3, "0")}${"x".repeat(97)}`));
    });
    router.post("/web-stream", guarded, (ctx) => {
      const n = count("web-stream");
      ctx.type = "text/plain";
      ctx.body = new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(`web stream ${n}`));
          controller.close();
        },
      });
    });
    router.post("/blob", guarded, (ctx) => {
      ctx.body = new Blob([`blob ${count("blob")}`], { type: "text/markdown" });
    });
    router.post("/fetch-response", guarded, (ctx) => {
      ctx.body = new Response(`response ${count("fetch-response")}`, { status: 202, headers: { "x-from": "fetch" } });
    });
    router.post("/null", guarded, (ctx) => {
      count("null");
      ctx.body = null; // Koa answers 204
    });
    router.post("/explicit-null-200", guarded, (ctx) => {
      count("explicit-null-200");
      ctx.body = null;
      ctx.status = 200;
    });
    router.post("/no-body", guarded, (ctx) => {
      count("no-body");
      ctx.status = 202; // no body: Koa sends "Accepted" as text
    });
    router.post("/raw", guarded, (ctx) => {
      ctx.respond = false;
      ctx.res.writeHead(201, { "content-type": "text/plain", "x-raw": "yes" });
      ctx.res.write("raw ");
      setTimeout(() => ctx.res.end(`write ${count("raw")}`), 20);
    });
    router.post("/slow", guarded, async (ctx) => {
      const n = count("slow");
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      ctx.body = { n };
    });
    router.post("/throws-400", guarded, (ctx) => {
      count("throws-400");
      ctx.throw(400, "bad amount");
    });
    router.post("/parsed-before", jsonParser, guarded, (ctx) => {
      ctx.body = { n: count("parsed-before"), got: (ctx.request as { body?: unknown }).body };
    });
    router.post("/parsed-after", guarded, jsonParser, (ctx) => {
      ctx.body = { n: count("parsed-after"), got: (ctx.request as { body?: unknown }).body };
    });
    router.post("/small", jsonParser, idempotency(idem, { maxRequestBytes: 50 }), (ctx) => {
      ctx.body = { n: count("small") };
    });
    app.use(router.routes());
    server = await listen(createServer(app.callback()));
  });
  afterAll(async () => {
    release();
    await server.close();
  });

  let counter = 0;
  const newKey = () => `koa-${++counter}-${Date.now()}`;
  const post = (path: string, key?: string, body = '{"amount":100}', headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}), ...headers },
      body,
    });
  const twice = async (path: string, body?: string) => {
    const key = newKey();
    const read = async (response: Response) => ({
      status: response.status,
      headers: response.headers,
      bytes: Buffer.from(await response.arrayBuffer()),
    });
    return { first: await read(await post(path, key, body)), retry: await read(await post(path, key, body)) };
  };

  for (const [path, status, type, text] of [
    ["/string", 200, "text/html; charset=utf-8", "<p>run 1: ünïcödé</p>"],
    ["/buffer", 201, "application/octet-stream", undefined],
    ["/json", 201, "application/json; charset=utf-8", '{"n":1,"nested":{"b":[1,2],"a":"ü"}}'],
    ["/stream", 200, "text/csv; charset=utf-8", "a,b\n1,2\nrun,1\n"],
    ["/web-stream", 200, "text/plain; charset=utf-8", "web stream 1"],
    ["/blob", 200, "text/markdown; charset=utf-8", "blob 1"],
    ["/fetch-response", 202, "text/plain;charset=UTF-8", "response 1"],
    ["/no-body", 202, "text/plain; charset=utf-8", "Accepted"],
  ] as const) {
    it(`captures ${path} byte for byte, gives the first caller those bytes, and replays them`, async () => {
      const { first, retry } = await twice(path);
      expect(first.status).toBe(status);
      expect(first.headers.get("content-type")).toBe(type);
      if (text !== undefined) expect(first.bytes.toString()).toBe(text);
      expect(first.headers.get("x-request-id")).toBe("outer");
      expect(retry.status).toBe(status);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(retry.headers.get("content-type")).toBe(type);
      expect(retry.headers.get("x-request-id")).toBe("outer");
      expect(retry.bytes.equals(first.bytes)).toBe(true);
      // What outer middleware sees in ctx.body is the same on the first run and on the replay.
      expect(retry.headers.get("x-body-kind")).toBe(first.headers.get("x-body-kind"));
      expect(runs.get(path.slice(1))).toBe(1);
    });
  }

  it("keeps headers the handler set next to the body", async () => {
    const { first, retry } = await twice("/json");
    expect(first.headers.get("x-charge")).toBe("ch_1");
    expect(retry.headers.get("x-charge")).toBe("ch_1");
    expect(first.headers.get("content-length")).toBe(String(first.bytes.byteLength));
  });

  it("streams a body over maxResponseBytes through whole, and answers retries 410", async () => {
    const { first, retry } = await twice("/big-stream");
    expect(first.status).toBe(200);
    expect(first.bytes.byteLength).toBe(5000);
    expect(first.bytes.subarray(4900, 4903).toString()).toBe("049");
    expect(retry.status).toBe(410);
    expect(runs.get("big-stream")).toBe(1);
  });

  it("replays ctx.body = null as Koa's 204, and an explicit null body with 200 as an empty 200", async () => {
    const noContent = await twice("/null");
    expect(noContent.first.status).toBe(204);
    expect(noContent.retry.status).toBe(204);
    expect(noContent.retry.headers.get("idempotent-replayed")).toBe("true");
    expect(noContent.retry.bytes.byteLength).toBe(0);
    const empty = await twice("/explicit-null-200");
    expect(empty.first.status).toBe(200);
    expect(empty.first.headers.get("content-type")).toBeNull();
    expect(empty.retry.status).toBe(200);
    expect(empty.retry.headers.get("idempotent-replayed")).toBe("true");
    expect(empty.retry.headers.get("content-type")).toBeNull();
    expect(empty.retry.headers.get("content-length")).toBe("0");
    expect(runs.get("null")).toBe(1);
    expect(runs.get("explicit-null-200")).toBe(1);
  });

  it("stores what a handler that bypasses Koa (ctx.respond = false) writes to ctx.res", async () => {
    const { first, retry } = await twice("/raw");
    expect(first.status).toBe(201);
    expect(first.bytes.toString()).toBe("raw write 1");
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.headers.get("x-raw")).toBe("yes");
    expect(retry.bytes.toString()).toBe("raw write 1");
    expect(runs.get("raw")).toBe(1);
  });

  it("never stores its own 409 or 422: after them the legitimate retry still replays the first result", async () => {
    const key = newKey();
    const first = post("/slow", key);
    await until(() => runs.get("slow") === 1);
    expect((await post("/slow", key)).status).toBe(409);
    expect((await post("/slow", key, '{"amount":5}')).status).toBe(422);
    release();
    const firstBody = await (await first).text();
    const retry = await post("/slow", key);
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.text()).toBe(firstBody);
    expect(runs.get("slow")).toBe(1);
  });

  it("releases the key when the handler throws, even an error Koa answers with a 4xx", async () => {
    const key = newKey();
    expect((await post("/throws-400", key)).status).toBe(400);
    expect((await post("/throws-400", key)).status).toBe(400);
    expect(runs.get("throws-400")).toBe(2);
    expect(events.filter((e) => e.key === key && e.type === "released")).toHaveLength(2);
  });

  it("fingerprints a parsed body canonically when a parser ran first, and reads the stream itself when not", async () => {
    for (const path of ["/parsed-before", "/parsed-after"]) {
      const key = newKey();
      const first = await post(path, key, '{"a":1,"b":2}');
      expect((await first.json()).got).toEqual({ a: 1, b: 2 });
      const reordered = await post(path, key, '{ "b": 2, "a": 1 }');
      expect(reordered.headers.get("idempotent-replayed"), path).toBe("true");
      expect((await post(path, key, '{"a":1,"b":3}')).status, path).toBe(422);
    }
    // Without a key, the parser after oncely still gets the body.
    const unguarded = await post("/parsed-after", undefined, '{"x":1}');
    expect((await unguarded.json()).got).toEqual({ x: 1 });
  });

  it("answers 413 for a parsed body over maxRequestBytes", async () => {
    expect((await post("/small", newKey(), JSON.stringify({ blob: "x".repeat(100) }))).status).toBe(413);
    expect((await post("/small", newKey(), '{"a":1}')).status).toBe(200);
    expect(runs.get("small")).toBe(1);
  });
});

async function until(condition: () => boolean, timeout = 5000) {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
