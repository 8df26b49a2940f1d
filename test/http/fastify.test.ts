import { request as httpRequest } from "node:http";
import { Readable } from "node:stream";
import fastify5, {
  type FastifyContextConfig,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import fastify4 from "fastify4";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { idempotency } from "../../src/adapters/fastify/index.js";
import {
  createIdempotency,
  type Idempotency,
  type IdempotencyContext,
  type IdempotencyEvent,
  MemoryStore,
  type RouteOptions,
} from "../../src/index.js";
import type { RunningServer, SpecResponse, StartServer } from "./app-spec.js";
import { describeHttpSemantics } from "./semantics.js";
import { readStream } from "./servers.js";

// Fastify 4's types come from the `fastify4` alias; the adapter is typed against the installed `fastify` (5), and
// its runtime contract is the same for both, so the tests drive both through Fastify 5's types.
type FastifyFactory = (options?: { logger?: boolean }) => FastifyInstance;
const versions: [string, FastifyFactory][] = [
  ["fastify 5", fastify5 as unknown as FastifyFactory],
  ["fastify 4", fastify4 as unknown as FastifyFactory],
];

async function serve(app: FastifyInstance): Promise<RunningServer> {
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  return {
    url,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
}

function send(reply: FastifyReply, out: SpecResponse) {
  reply.code(out.status);
  const grouped = new Map<string, string[]>();
  for (const [name, value] of out.headers) grouped.set(name, [...(grouped.get(name) ?? []), value]);
  for (const [name, values] of grouped) reply.header(name, values.length === 1 ? values[0] : values);
  // Bytes, not a string: Fastify adds "; charset=utf-8" to a JSON content type sent with a string payload.
  return reply.send(typeof out.body === "string" ? Buffer.from(out.body) : out.body);
}

/** The bytes the handler got: Fastify parsed JSON bodies, so the test handler re-serializes what it parsed. */
function bodyBytes(request: FastifyRequest): Uint8Array {
  const body = request.body as unknown;
  if (body === undefined) return new Uint8Array(0);
  if (typeof body === "string") return Buffer.from(body);
  if (Buffer.isBuffer(body)) return body;
  return Buffer.from(JSON.stringify(body));
}

const startFastify =
  (factory: FastifyFactory): StartServer =>
  async (idem, routes) => {
    const app = factory();
    await app.register(idempotency(idem));
    for (const route of routes) {
      app.route({
        method: route.method,
        url: route.path,
        ...(route.options ? { config: { idempotency: route.options } } : {}),
        handler: async (request, reply) =>
          send(reply, await route.handle({ body: bodyBytes(request), context: request.idempotency })),
      });
    }
    return serve(app);
  };

// Fastify parses the body before `preHandler`: the fingerprint sees the parsed value (see HttpCapabilities).
for (const [name, factory] of versions) describeHttpSemantics(name, startFastify(factory), { bodyBytes: false });

describe("fastify: types", () => {
  it("types request.idempotency and a route's config.idempotency", () => {
    expectTypeOf<FastifyRequest["idempotency"]>().toEqualTypeOf<IdempotencyContext | undefined>();
    expectTypeOf<FastifyContextConfig["idempotency"]>().toEqualTypeOf<
      RouteOptions<FastifyRequest> | boolean | undefined
    >();
    expectTypeOf(idempotency).parameter(1).toEqualTypeOf<RouteOptions<FastifyRequest> | undefined>();
  });
});

for (const [name, factory] of versions) {
  describe(`${name}: hooks, payload shapes and route config`, () => {
    let server: RunningServer;
    let idem: Idempotency;
    const events: IdempotencyEvent[] = [];
    const runs = new Map<string, number>();
    const count = (what: string) => {
      runs.set(what, (runs.get(what) ?? 0) + 1);
      return runs.get(what)!;
    };
    let release = () => {};

    beforeAll(async () => {
      idem = createIdempotency({ store: new MemoryStore(), onEvent: (event) => events.push(event) });
      const app = factory();
      await app.register(idempotency(idem));
      app.post("/returns", async (_request, reply) => {
        reply.code(201).header("x-way", "return");
        return { n: count("returns"), way: "return" };
      });
      app.post("/sends", (_request, reply) => {
        reply
          .code(201)
          .header("x-way", "send")
          .send({ n: count("sends"), way: "send" });
      });
      app.post("/send-no-return", async (_request, reply) => {
        // Fastify's rule is to `return reply` here; without it, Fastify sends the handler's `undefined` as well.
        reply.code(201).send({ n: count("send-no-return") });
      });
      app.post("/text", async () => `text run ${count("text")}: ünïcödé`);
      app.post("/buffer", async (_request, reply) => {
        reply.type("application/octet-stream");
        return Buffer.from([0, 255, count("buffer"), 128, 10, 13]);
      });
      app.post("/stream", async (_request, reply) => {
        reply.type("text/csv");
        return Readable.from(["a,b\n", Buffer.from("1,2\n"), `run,${count("stream")}\n`]);
      });
      app.post("/bare-stream", async () => Readable.from([Buffer.from(`bare ${count("bare-stream")}`)]));
      app.post("/web-stream", async (_request, reply) => {
        reply.type("text/plain");
        const n = count("web-stream");
        return new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode("web "));
            controller.enqueue(new TextEncoder().encode(`stream ${n}`));
            controller.close();
          },
        });
      });
      app.post("/fetch-response", async () => {
        const n = count("fetch-response");
        return new Response(`from a Response ${n}`, { status: 202, headers: { "x-from": "response" } });
      });
      app.post("/big-stream", { config: { idempotency: { maxResponseBytes: 1000 } } }, async (_request, reply) => {
        count("big-stream");
        reply.type("text/plain");
        return Readable.from(Array.from({ length: 50 }, (_, i) => `${String(i).padStart(3, "0")}${"x".repeat(97)}`));
      });
      app.post("/no-content", async (_request, reply) => {
        count("no-content");
        reply.code(204).send();
      });
      app.post("/empty-200", async (_request, reply) => {
        count("empty-200");
        reply.send();
      });
      app.post("/required", { config: { idempotency: { required: true, ttl: "1h" } } }, async () => ({
        n: count("required"),
      }));
      app.post("/opted-out", { config: { idempotency: false } }, async (request) => ({
        n: count("opted-out"),
        guarded: request.idempotency !== undefined,
      }));
      app.put("/put-guarded", { config: { idempotency: { methods: ["PUT"] } } }, async () => ({
        n: count("put-guarded"),
      }));
      app.post("/slow", async () => {
        const n = count("slow");
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        return { n };
      });
      app.post("/bad-request-error", async () => {
        count("bad-request-error");
        throw Object.assign(new Error("invalid amount"), { statusCode: 400 });
      });
      app.post("/hijack", async (_request, reply) => {
        count("hijack");
        reply.hijack();
        reply.raw.writeHead(200, { "content-type": "text/plain" });
        reply.raw.end("hijacked");
      });
      app.post("/context", async (request) => ({ key: request.idempotency?.key, n: count("context") }));
      // Route-level hooks of the user's run before oncely's, so `scope` sees what authentication set.
      app.post(
        "/scoped-by-hook",
        {
          config: { idempotency: { scope: (req) => (req.raw as FastifyRequest & { account: string }).account } },
          preHandler: async (request) => {
            (request as FastifyRequest & { account?: string }).account = request.headers["x-account"] as string;
          },
        },
        async (request) => ({ n: count("scoped-by-hook"), account: request.headers["x-account"] }),
      );
      // A child plugin (its own encapsulation context) registered after oncely is guarded too.
      await app.register(async (child) => {
        child.post("/child", async () => ({ n: count("child") }));
      });
      // Content types Fastify has no parser for are answered 415 before any route runs; these parsers let them in.
      app.register(async (raw) => {
        raw.addContentTypeParser("application/octet-stream", (_request, _payload, done) => done(null));
        raw.post("/unread-raw", async (request) => ({
          n: count("unread-raw"),
          hex: Buffer.from(await readStream(request.raw)).toString("hex"),
        }));
      });
      app.register(async (stream) => {
        stream.addContentTypeParser("application/x-ndjson", (_request, payload, done) => done(null, payload));
        stream.post("/stream-body", async (request) => ({
          n: count("stream-body"),
          text: Buffer.from(await readStream(request.body as AsyncIterable<Buffer>)).toString(),
        }));
      });
      app.register(async (buffers) => {
        buffers.addContentTypeParser("application/pdf", { parseAs: "buffer" }, (_request, body, done) =>
          done(null, body),
        );
        buffers.post("/buffer-body", async (request) => ({
          n: count("buffer-body"),
          size: (request.body as Buffer).byteLength,
        }));
      });
      app.post("/small", { config: { idempotency: { maxRequestBytes: 50 } } }, async () => ({ n: count("small") }));
      server = await serve(app);
    });
    afterAll(async () => {
      release();
      await server.close();
    });

    let counter = 0;
    const newKey = () => `${name.replace(/\W/g, "")}-${++counter}-${Date.now()}`;
    const post = (path: string, key?: string, body = '{"amount":100}', headers: Record<string, string> = {}) =>
      fetch(`${server.url}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(key === undefined ? {} : { "idempotency-key": key }),
          ...headers,
        },
        body,
      });
    /** Sends twice with one key; returns both responses' status, headers and bytes. */
    const twice = async (path: string, body?: string, headers?: Record<string, string>) => {
      const key = newKey();
      const read = async (response: Response) => ({
        status: response.status,
        headers: response.headers,
        bytes: Buffer.from(await response.arrayBuffer()),
      });
      const first = await read(await post(path, key, body, headers));
      const retry = await read(await post(path, key, body, headers));
      return { first, retry, key };
    };

    it("stores a value the handler returns and one it passes to reply.send() alike", async () => {
      for (const path of ["/returns", "/sends"]) {
        const { first, retry } = await twice(path);
        expect(first.status).toBe(201);
        expect(retry.status).toBe(201);
        expect(retry.headers.get("idempotent-replayed")).toBe("true");
        expect(retry.headers.get("x-way")).toBe(first.headers.get("x-way"));
        expect(retry.headers.get("content-type")).toBe("application/json; charset=utf-8");
        expect(retry.bytes.equals(first.bytes)).toBe(true);
        expect(JSON.parse(first.bytes.toString())).toEqual({ n: 1, way: path === "/returns" ? "return" : "send" });
        expect(runs.get(path.slice(1))).toBe(1);
      }
    });

    it("answers once, with the handler's payload, when an async handler calls reply.send() without returning reply", async () => {
      const { first, retry } = await twice("/send-no-return");
      expect(first.status).toBe(201);
      expect(JSON.parse(first.bytes.toString())).toEqual({ n: 1 });
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(retry.bytes.equals(first.bytes)).toBe(true);
      expect(runs.get("send-no-return")).toBe(1);
    });

    it("captures string, Buffer, Node.js stream, web stream and Response payloads byte for byte", async () => {
      for (const [path, type] of [
        ["/text", "text/plain; charset=utf-8"],
        ["/buffer", "application/octet-stream"],
        ["/stream", "text/csv"],
        ["/web-stream", "text/plain"],
      ] as const) {
        const { first, retry } = await twice(path);
        expect(first.status, path).toBe(200);
        expect(retry.headers.get("idempotent-replayed"), path).toBe("true");
        expect(retry.headers.get("content-type"), path).toBe(type);
        expect(retry.bytes.equals(first.bytes), path).toBe(true);
        expect(first.bytes.byteLength, path).toBeGreaterThan(0);
        expect(runs.get(path.slice(1)), path).toBe(1);
      }
      const { first, retry } = await twice("/stream");
      expect(retry.bytes.toString()).toBe(first.bytes.toString());
      expect(first.bytes.toString()).toBe("a,b\n1,2\nrun,2\n");

      const response = await twice("/fetch-response");
      expect(response.first.status).toBe(202);
      expect(response.retry.status).toBe(202);
      expect(response.retry.headers.get("x-from")).toBe("response");
      expect(response.retry.bytes.toString()).toBe("from a Response 1");
    });

    it("replays a stream sent without a Content-Type without one", async () => {
      const { first, retry } = await twice("/bare-stream");
      expect(first.headers.get("content-type")).toBeNull();
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(retry.headers.get("content-type")).toBeNull();
      expect(retry.bytes.toString()).toBe("bare 1");
    });

    it("streams a payload over maxResponseBytes through whole, and answers retries 410", async () => {
      const { first, retry } = await twice("/big-stream");
      expect(first.status).toBe(200);
      expect(first.bytes.byteLength).toBe(5000);
      expect(first.bytes.subarray(4900, 4903).toString()).toBe("049");
      expect(retry.status).toBe(410);
      expect(runs.get("big-stream")).toBe(1);
    });

    it("replays 204 and empty 200 replies as such", async () => {
      const noContent = await twice("/no-content");
      expect(noContent.retry.status).toBe(204);
      expect(noContent.retry.headers.get("idempotent-replayed")).toBe("true");
      expect(noContent.retry.bytes.byteLength).toBe(0);
      const empty = await twice("/empty-200");
      expect(empty.first.status).toBe(200);
      expect(empty.retry.status).toBe(200);
      expect(empty.retry.headers.get("idempotent-replayed")).toBe("true");
      expect(empty.retry.headers.get("content-length")).toBe("0");
      expect(empty.retry.headers.get("content-type")).toBe(empty.first.headers.get("content-type"));
      expect(runs.get("no-content")).toBe(1);
      expect(runs.get("empty-200")).toBe(1);
    });

    it("applies per-route config: required and ttl on one route, none on another, another method", async () => {
      expect((await post("/required")).status).toBe(400);
      expect(runs.get("required")).toBeUndefined();
      const { retry } = await twice("/required");
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      // ttl "1h" instead of the default 24 h
      const record = (await idem.store.list({ limit: 1000 })).records.find((r) => r.meta.path === "/required");
      expect(record!.expiresAt - Date.now()).toBeLessThanOrEqual(3_600_000);
      expect(record!.expiresAt - Date.now()).toBeGreaterThan(3_500_000);

      const optedOut = await twice("/opted-out");
      expect(optedOut.retry.headers.get("idempotent-replayed")).toBeNull();
      expect(JSON.parse(optedOut.retry.bytes.toString())).toEqual({ n: 2, guarded: false });

      const putKey = newKey();
      const put = () => fetch(`${server.url}/put-guarded`, { method: "PUT", headers: { "idempotency-key": putKey } });
      await put();
      expect((await put()).headers.get("idempotent-replayed")).toBe("true");
      expect(runs.get("put-guarded")).toBe(1);
    });

    it("never stores its own 409 or 422: after them the legitimate retry still replays the first result", async () => {
      const key = newKey();
      const first = post("/slow", key);
      await until(() => runs.get("slow") === 1);
      const conflict = await post("/slow", key);
      expect(conflict.status).toBe(409);
      const mismatch = await post("/slow", key, '{"amount":999}');
      expect(mismatch.status).toBe(422);
      release();
      const firstBody = await (await first).text();
      const retry = await post("/slow", key);
      expect(retry.status).toBe(200);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(await retry.text()).toBe(firstBody);

      const other = newKey();
      const text = await (await post("/text", other)).text();
      expect((await post("/text", other, '{"amount":1}')).status).toBe(422);
      const again = await post("/text", other);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(await again.text()).toBe(text);
      expect(runs.get("slow")).toBe(1);
    });

    it("releases the key when the handler throws, even an error Fastify answers with a 4xx", async () => {
      const key = newKey();
      expect((await post("/bad-request-error", key)).status).toBe(400);
      expect((await post("/bad-request-error", key)).status).toBe(400);
      expect(runs.get("bad-request-error")).toBe(2);
      expect(events.filter((e) => e.key === key && e.type === "released")).toHaveLength(2);
    });

    it("releases the key of a hijacked reply instead of holding it", async () => {
      const key = newKey();
      expect(await (await post("/hijack", key)).text()).toBe("hijacked");
      await until(() => events.some((e) => e.key === key && e.type === "released"));
      expect((await post("/hijack", key)).status).toBe(200);
      expect(runs.get("hijack")).toBe(2);
    });

    it("exposes the context as request.idempotency and guards child plugins' routes", async () => {
      const key = newKey();
      expect(await (await post("/context", key)).json()).toEqual({ key, n: 1 });
      const { retry } = await twice("/child");
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(runs.get("child")).toBe(1);
    });

    it("runs after the route's own preHandler hooks, so scope can use what they set", async () => {
      const key = newKey();
      await post("/scoped-by-hook", key, undefined, { "x-account": "a" });
      const b = await post("/scoped-by-hook", key, undefined, { "x-account": "b" });
      expect(b.headers.get("idempotent-replayed")).toBeNull();
      const aAgain = await post("/scoped-by-hook", key, undefined, { "x-account": "a" });
      expect(aAgain.headers.get("idempotent-replayed")).toBe("true");
      expect(await aAgain.json()).toEqual({ n: 1, account: "a" });
    });

    it("fingerprints raw bytes where a parser left the stream unread, and the handler still reads them", async () => {
      const key = newKey();
      const raw = (payload: Uint8Array<ArrayBuffer>) =>
        fetch(`${server.url}/unread-raw`, {
          method: "POST",
          headers: { "content-type": "application/octet-stream", "idempotency-key": key },
          body: payload,
        });
      const first = await raw(Uint8Array.of(1, 2, 3, 250));
      expect(await first.json()).toEqual({ n: 1, hex: "010203fa" });
      expect((await raw(Uint8Array.of(1, 2, 3, 251))).status).toBe(422);
      const retry = await raw(Uint8Array.of(1, 2, 3, 250));
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      // Without a key the route runs untouched.
      const unguarded = await fetch(`${server.url}/unread-raw`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: Uint8Array.of(9),
      });
      expect(await unguarded.json()).toEqual({ n: 2, hex: "09" });
    });

    it("fingerprints a body a parser hands on as a stream, and gives the handler the same bytes", async () => {
      const key = newKey();
      const ndjson = (text: string) => post("/stream-body", key, text, { "content-type": "application/x-ndjson" });
      expect(await (await ndjson('{"a":1}\n{"b":2}\n')).json()).toEqual({ n: 1, text: '{"a":1}\n{"b":2}\n' });
      expect((await ndjson('{"a":1}\n')).status).toBe(422);
      expect((await ndjson('{"a":1}\n{"b":2}\n')).headers.get("idempotent-replayed")).toBe("true");
      expect(
        (
          await post("/stream-body", newKey(), "x".repeat(2_000_000), {
            "content-type": "application/x-ndjson",
          })
        ).status,
      ).toBe(413);
    });

    it("fingerprints a Buffer body byte for byte", async () => {
      const key = newKey();
      const pdf = (text: string) => post("/buffer-body", key, text, { "content-type": "application/pdf" });
      expect(await (await pdf("%PDF-1.7 one")).json()).toEqual({ n: 1, size: 12 });
      expect((await pdf("%PDF-1.7 two")).status).toBe(422);
      expect((await pdf("%PDF-1.7 one")).headers.get("idempotent-replayed")).toBe("true");
    });

    it("answers 413 for a parsed body over maxRequestBytes, with or without Content-Length", async () => {
      const big = JSON.stringify({ blob: "x".repeat(100) });
      expect((await post("/small", newKey(), big)).status).toBe(413);
      expect((await chunkedPost(server.url, "/small", newKey(), big)).status).toBe(413);
      expect((await chunkedPost(server.url, "/small", newKey(), '{"a":1}')).status).toBe(200);
      expect(runs.get("small")).toBe(1);
    });

    it("checks per-route options when the route is registered", async () => {
      const app = factory();
      await app.register(idempotency(idem));
      expect(() =>
        app.post("/bad", { config: { idempotency: { ttl: "soon" } as never } }, async () => "never"),
      ).toThrow(/ttl/);
      expect(() =>
        app.post("/unknown", { config: { idempotency: { sope: () => "x" } as never } }, async () => "never"),
      ).toThrow(/sope/);
      await app.close();
    });

    it("takes plugin options for every route it guards, from the factory or from register", async () => {
      for (const register of [
        (app: FastifyInstance) => app.register(idempotency(idem, { required: true })),
        (app: FastifyInstance) => app.register(idempotency(idem), { required: true }),
      ]) {
        const app = factory();
        await register(app);
        app.post("/strict", async () => "ok");
        app.post("/lenient", { config: { idempotency: { required: false } } }, async () => "ok");
        const running = await serve(app);
        expect((await fetch(`${running.url}/strict`, { method: "POST" })).status).toBe(400);
        expect((await fetch(`${running.url}/lenient`, { method: "POST" })).status).toBe(200);
        await running.close();
      }
    });

    it("guards a route once when registered again in a child plugin, with the child's options", async () => {
      const app = factory();
      await app.register(idempotency(idem));
      let runsInChild = 0;
      await app.register(async (child) => {
        await child.register(idempotency(idem, { required: true }));
        child.post("/nested", async () => ({ n: ++runsInChild }));
      });
      const running = await serve(app);
      const nested = (key?: string) =>
        fetch(`${running.url}/nested`, { method: "POST", headers: key ? { "idempotency-key": key } : {} });
      expect((await nested()).status).toBe(400);
      const key = newKey();
      expect((await nested(key)).status).toBe(200);
      const retry = await nested(key);
      expect(retry.status).toBe(200);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(runsInChild).toBe(1);
      await running.close();
    });
  });
}

async function until(condition: () => boolean, timeout = 5000) {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A POST with `Transfer-Encoding: chunked` (no Content-Length). */
function chunkedPost(base: string, path: string, key: string, body: string): Promise<{ status: number }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": key, "transfer-encoding": "chunked" },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.on("error", reject);
    req.write(body.slice(0, 10));
    req.end(body.slice(10));
  });
}
