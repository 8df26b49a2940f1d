import { request as httpRequest, type Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";
import { streamText } from "hono/streaming";
import { afterEach, describe, expect, it } from "vitest";
import { withIdempotency } from "../../src/adapters/fetch/index.js";
import { idempotency } from "../../src/adapters/hono/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { listen } from "../http/servers.js";

// Found while testing Hono's stream() helpers: the Hono and fetch adapters read a streamed response to bytes and sent
// a new response of those bytes with the handler's headers, Transfer-Encoding: chunked included. @hono/node-server
// then wrote a Content-Length beside it, and Node's own client refused the first answer ("Parse Error: Content-Length
// can't be present with Transfer-Encoding"); replays, built from the stored headers, were fine.

/** POSTs with an Idempotency-Key; rejects when the answer does not parse. */
function post(url: string, key: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: "POST", agent: false, headers: { "idempotency-key": key } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode!, body }));
      res.on("error", reject);
    });
    request.on("error", reject);
    request.end();
  });
}

describe("regression: a streamed response declared chunked, read and sent again as bytes", () => {
  let server: RunningServer;
  afterEach(() => server?.close());

  async function firstAndReplay(url: string) {
    const first = await post(url, "chunked");
    const replay = await post(url, "chunked");
    expect(first).toEqual({ status: 200, body: "one two" });
    expect(replay).toEqual(first);
  }

  it("Hono: streamText() answers parse, first and replayed", async () => {
    const app = new Hono();
    const idem = createIdempotency({ store: new MemoryStore(), logger: false });
    app.post("/stream", idempotency(idem), (c) =>
      streamText(c, async (out) => {
        await out.write("one ");
        await out.write("two");
      }),
    );
    server = await listen(createAdaptorServer({ fetch: app.fetch }) as Server);
    await firstAndReplay(`${server.url}/stream`);
  });

  it("fetch: a handler's chunked stream answers parse, first and replayed", async () => {
    const idem = createIdempotency({ store: new MemoryStore(), logger: false });
    const handler = withIdempotency(idem, () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("one "));
          controller.enqueue(new TextEncoder().encode("two"));
          controller.close();
        },
      });
      return new Response(body, { headers: { "transfer-encoding": "chunked", "content-type": "text/plain" } });
    });
    server = await listen(createAdaptorServer({ fetch: (request: Request) => handler(request) }) as Server);
    await firstAndReplay(`${server.url}/stream`);
  });
});
