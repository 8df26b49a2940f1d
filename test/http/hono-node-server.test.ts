import { request as httpRequest, type Server } from "node:http";
import { connect } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { type Context, Hono } from "hono";
import { stream, streamText } from "hono/streaming";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotency } from "../../src/adapters/hono/index.js";
import { createIdempotency } from "../../src/core/engine.js";
import { MemoryStore } from "../../src/stores/memory/index.js";
import type { RunningServer } from "./app-spec.js";
import { listen } from "./servers.js";

// On @hono/node-server the middleware reads a handler's lightweight Response without turning it into a real one, and
// lets the server send it as it is. These cases check, on the wire, that what a first request gets and what a replay
// gets agree for every way a Hono handler answers: the headers the server writes (a record as it is, a `Headers` with
// the default content type), bytes that are not UTF-8, repeated headers, streams, empty bodies, HEAD, and failures.

interface WireResponse {
  status: number;
  /** Every header line as sent, lower-case names, in order. */
  headers: [string, string][];
  body: Buffer;
}

/** One request over a fresh connection, read as raw header lines and bytes. */
function send(
  url: string,
  path: string,
  options: { method?: string; key?: string; body?: Uint8Array | string; headers?: Record<string, string> } = {},
): Promise<WireResponse> {
  const { method = "POST", key, body } = options;
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      `${url}${path}`,
      {
        method,
        agent: false,
        headers: {
          ...(key ? { "idempotency-key": key } : {}),
          ...(body === undefined ? {} : { "content-length": String(Buffer.byteLength(body)) }),
          ...options.headers,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const headers: [string, string][] = [];
          for (let i = 0; i < response.rawHeaders.length; i += 2) {
            headers.push([response.rawHeaders[i]!.toLowerCase(), response.rawHeaders[i + 1]!]);
          }
          resolve({ status: response.statusCode!, headers, body: Buffer.concat(chunks) });
        });
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

/** The header lines a replay repeats: all but those that describe one message or carry a credential. */
const perMessage = new Set(["date", "connection", "keep-alive", "content-length", "transfer-encoding", "set-cookie"]);
function replayable(headers: [string, string][]): [string, string][] {
  return headers.filter(([name]) => !perMessage.has(name) && name !== "idempotent-replayed");
}

/** Every byte value, so a body that is not UTF-8 shows any decoding on the way. */
const binary = Uint8Array.from({ length: 256 }, (_, i) => i);

describe("hono on @hono/node-server: first answers and replays on the wire", () => {
  let server: RunningServer;
  const runs = new Map<string, number>();
  const ran = (name: string) => runs.set(name, (runs.get(name) ?? 0) + 1);
  let keys = 0;
  const newKey = () => `node-server-${++keys}`;
  let handed: Response | undefined;
  let sentAsIs: boolean | undefined;

  beforeAll(async () => {
    const idem = createIdempotency({ store: new MemoryStore(), logger: false });
    const app = new Hono();
    const guard = idempotency(idem);
    const route = (path: string, handler: (c: Context) => Response | Promise<Response>) =>
      app.post(path, guard, async (c) => {
        ran(path);
        return handler(c);
      });
    route("/json", (c) => c.json({ id: "ch_1", note: "café" }, 201));
    route("/text", (c) => c.text("héllo"));
    route("/record-without-type", () => new Response("plain", { status: 202, headers: { "X-Record": "yes" } }));
    route("/binary-echo", async (c) => {
      const received = new Uint8Array(await c.req.arrayBuffer());
      return c.body(Uint8Array.from([...received, ...binary]), 201, { "content-type": "application/octet-stream" });
    });
    route("/repeated", (c) => {
      c.header("set-cookie", "a=1", { append: true });
      c.header("set-cookie", "b=2", { append: true });
      c.header("link", "</a>; rel=a", { append: true });
      c.header("link", "</b>; rel=b", { append: true });
      return c.body("repeated", 201);
    });
    route("/object-key-names", (c) => {
      // A name an ordinary object already has.
      c.header("constructor", "c1");
      c.header("x-after", "a1");
      return c.body("named", 201);
    });
    route("/proto-header", (c) => {
      c.header("__proto__", "p1");
      return c.body("named", 201);
    });
    route("/web-stream", (c) =>
      c.body(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(binary.subarray(0, 100));
            controller.enqueue(binary.subarray(100));
            controller.close();
          },
        }),
        201,
        { "content-type": "application/octet-stream" },
      ),
    );
    route("/stream-helper", (c) =>
      stream(c, async (out) => {
        await out.write(binary.subarray(0, 128));
        await out.write(binary.subarray(128));
      }),
    );
    route("/stream-text", (c) =>
      streamText(c, async (out) => {
        await out.write("one ");
        await out.write("twö");
      }),
    );
    route("/body-state", async (c) => {
      let clone: string;
      try {
        c.req.raw.clone();
        clone = "cloned";
      } catch (error) {
        clone = (error as Error).message;
      }
      const raw = await c.req.raw.text().then(
        () => "read again",
        (error: Error) => error.message,
      );
      const bytes = [...new Uint8Array(await c.req.arrayBuffer())];
      return c.json({ bodyUsed: c.req.raw.bodyUsed, clone, raw, bytes, text: await c.req.text() }, 201);
    });
    route("/no-content", (c) => c.body(null, 204));
    route("/empty", (c) => c.body("", 200));
    app.get("/report", idempotency(idem, { methods: ["HEAD"] }), (c) => {
      ran("/report");
      return c.json({ rows: 3 }, 200, { "x-report": "r1" });
    });
    app.post(
      "/throws-after-next",
      guard,
      async (c, next) => {
        await next();
        throw new Error(`failed after the handler answered ${c.res.status}`);
      },
      (c) => {
        ran("/throws-after-next");
        return c.json({ charged: true }, 201);
      },
    );
    app.post(
      "/sent-as-is",
      async (c, next) => {
        await next();
        sentAsIs = c.res === handed;
      },
      guard,
      (c) => {
        handed = c.json({ id: "ch_2" }, 201);
        return handed;
      },
    );
    app.onError((_error, c) => c.text("internal error", 500));
    server = await listen(createAdaptorServer({ fetch: app.fetch }) as Server);
  });
  afterAll(() => server?.close());

  /** Sends one request twice with one key; the second must be a replay of the first, byte for byte. */
  async function firstAndReplay(path: string, body?: Uint8Array | string) {
    const key = newKey();
    const before = runs.get(path) ?? 0;
    const first = await send(server.url, path, { key, body });
    const replay = await send(server.url, path, { key, body });
    expect(runs.get(path)).toBe(before + 1);
    expect(replay.headers).toContainEqual(["idempotent-replayed", "true"]);
    expect(replay.status).toBe(first.status);
    expect(replayable(replay.headers)).toEqual(replayable(first.headers));
    expect(replay.body.equals(first.body)).toBe(true);
    return { first, replay };
  }

  it("sends the handler's own Response, not a copy (@hono/node-server writes it without building a fetch one)", async () => {
    const key = newKey();
    const first = await send(server.url, "/sent-as-is", { key });
    expect(first.status).toBe(201);
    expect(sentAsIs).toBe(true);
    const replay = await send(server.url, "/sent-as-is", { key });
    expect(replay.body.equals(first.body)).toBe(true);
  });

  it("c.json: the record Hono builds goes out as it is, and the replay repeats it", async () => {
    const { first } = await firstAndReplay("/json");
    expect(first.status).toBe(201);
    expect(first.headers).toContainEqual(["content-type", "application/json"]);
    expect(JSON.parse(first.body.toString())).toEqual({ id: "ch_1", note: "café" });
  });

  it("c.text with no headers: the server's default content type, on both", async () => {
    const { first } = await firstAndReplay("/text");
    expect(first.headers).toContainEqual(["content-type", "text/plain; charset=UTF-8"]);
    expect(first.body.toString()).toBe("héllo");
  });

  it("a record without a content type: none on the first answer, none on the replay", async () => {
    const { first } = await firstAndReplay("/record-without-type");
    expect(first.status).toBe(202);
    expect(first.headers).toContainEqual(["x-record", "yes"]);
    expect(first.headers.map(([name]) => name)).not.toContain("content-type");
  });

  it("bytes that are not UTF-8, in the request and in the response, byte for byte", async () => {
    const sent = Uint8Array.from([0xff, 0xfe, 0x00, 0xc3]);
    const { first } = await firstAndReplay("/binary-echo", sent);
    expect(first.body.equals(Buffer.from([...sent, ...binary]))).toBe(true);
  });

  it("repeated headers: both Set-Cookie lines on the first answer only, the joined Link on both", async () => {
    const { first, replay } = await firstAndReplay("/repeated");
    expect(first.headers.filter(([name]) => name === "set-cookie")).toEqual([
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
    ]);
    expect(replay.headers.filter(([name]) => name === "set-cookie")).toEqual([]);
    expect(replay.headers).toContainEqual(["link", "</a>; rel=a, </b>; rel=b"]);
  });

  it("header names that an ordinary object already has: the replay writes what the first answer wrote", async () => {
    const { first, replay } = await firstAndReplay("/object-key-names");
    expect(first.headers).toContainEqual(["constructor", "c1"]);
    expect(replay.headers).toContainEqual(["constructor", "c1"]);
    expect(replay.headers).toContainEqual(["x-after", "a1"]);
  });

  it("a header named __proto__: stored as a header, and the replay writes it (@hono/node-server drops it from the first answer)", async () => {
    const key = newKey();
    await send(server.url, "/proto-header", { key });
    const replay = await send(server.url, "/proto-header", { key });
    expect(replay.headers).toContainEqual(["idempotent-replayed", "true"]);
    expect(replay.headers).toContainEqual(["__proto__", "p1"]);
    expect(replay.body.toString()).toBe("named");
  });

  it("a ReadableStream body: read whole, sent whole, replayed whole", async () => {
    const { first } = await firstAndReplay("/web-stream");
    expect(first.body.equals(Buffer.from(binary))).toBe(true);
  });

  it("Hono's stream() and streamText() helpers", async () => {
    const bytes = await firstAndReplay("/stream-helper");
    expect(bytes.first.body.equals(Buffer.from(binary))).toBe(true);
    const text = await firstAndReplay("/stream-text");
    expect(text.first.body.toString()).toBe("one twö");
  });

  it("the body oncely read, as the handler finds it, whether it came with the headers or after them", async () => {
    const sent = Uint8Array.from([0x7b, 0xff, 0x00, 0x7d]);
    const expected = {
      bodyUsed: true,
      clone: "Body is unusable",
      raw: "Body is unusable",
      bytes: [...sent],
      text: new TextDecoder().decode(sent),
    };
    // Several with the headers: the first read teaches the adapter how the server marks a body read.
    for (let i = 0; i < 3; i++) {
      const answer = await send(server.url, "/body-state", { key: newKey(), body: sent });
      expect(answer.status).toBe(201);
      expect(JSON.parse(answer.body.toString())).toEqual(expected);
    }
    // The body a moment after the headers, in a packet of its own: read as it arrives.
    const { port } = new URL(server.url);
    const socket = connect(Number(port), "127.0.0.1");
    const received: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    const closed = new Promise((resolve) => socket.on("close", resolve));
    socket.write(
      `POST /body-state HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nIdempotency-Key: ${newKey()}\r\nContent-Length: ${sent.length}\r\n\r\n`,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.write(sent);
    await closed;
    const text = Buffer.concat(received).toString("latin1");
    expect(text.startsWith("HTTP/1.1 201")).toBe(true);
    expect(JSON.parse(Buffer.from(text.slice(text.indexOf("\r\n\r\n") + 4), "latin1").toString())).toEqual(expected);
  });

  it("a 204 and an empty 200: no body on either", async () => {
    const noContent = await firstAndReplay("/no-content");
    expect(noContent.first.status).toBe(204);
    expect(noContent.first.body.byteLength).toBe(0);
    const empty = await firstAndReplay("/empty");
    expect(empty.first.status).toBe(200);
    expect(empty.first.body.byteLength).toBe(0);
  });

  it("HEAD, where guarded: headers and no body on the first answer and on the replay", async () => {
    const key = newKey();
    const first = await send(server.url, "/report", { method: "HEAD", key });
    const replay = await send(server.url, "/report", { method: "HEAD", key });
    expect(runs.get("/report")).toBe(1);
    expect(first.status).toBe(200);
    expect(first.headers).toContainEqual(["x-report", "r1"]);
    expect(replay.headers).toContainEqual(["idempotent-replayed", "true"]);
    expect(replayable(replay.headers)).toEqual(replayable(first.headers));
    expect(first.body.byteLength + replay.body.byteLength).toBe(0);
  });

  it("a middleware that throws after the handler answered: 500, the key is released, a retry runs again", async () => {
    const key = newKey();
    const first = await send(server.url, "/throws-after-next", { key });
    expect(first.status).toBe(500);
    const retry = await send(server.url, "/throws-after-next", { key });
    expect(retry.status).toBe(500);
    expect(retry.headers.map(([name]) => name)).not.toContain("idempotent-replayed");
    expect(runs.get("/throws-after-next")).toBe(2);
  });
});
