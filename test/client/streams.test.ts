import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { withIdempotency } from "../../src/adapters/node/index.js";
import { createClient, idempotencyInfo, StreamResumeError } from "../../src/client/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { listen, readStream } from "../http/servers.js";

// oncely/client reading a streamed answer whose connection the network drops halfway: it sends the call again with
// the same key (Last-Event-ID for server-sent events) and the body goes on where it broke, as one body with the same
// bytes as an uninterrupted call, and the handler runs once. Over real sockets, against oncely/node.

const SSE = Array.from({ length: 12 }, (_, index) => `id: ${index}\ndata: token-${index}\n\n`);
const NDJSON = Array.from({ length: 12 }, (_, index) => `${JSON.stringify({ index, token: `token-${index}` })}\n`);
const DROP_AFTER = 5;

/** A stream whose first connection the server drops after `DROP_AFTER` chunks; the handler writes on regardless. */
async function serve(chunks: string[], contentType: string, guarded = true) {
  const arrivals: IncomingMessage["headers"][] = [];
  let runs = 0;
  const write = async (req: IncomingMessage, res: ServerResponse) => {
    await readStream(req);
    const first = runs++ === 0;
    res.writeHead(200, { "content-type": contentType });
    for (const [index, chunk] of chunks.entries()) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      if (first && index === DROP_AFTER) {
        await new Promise<void>((resolve) => res.write("", () => resolve()));
        req.socket.destroy();
      }
      res.write(chunk);
    }
    res.end();
  };
  const idem = createIdempotency({ store: new MemoryStore(), logger: false });
  const handler = guarded ? withIdempotency(idem, write, { stream: true }) : write;
  const server = await listen(
    createServer((req, res) => {
      arrivals.push(req.headers);
      void handler(req, res);
    }),
  );
  return { server, arrivals, runs: () => runs };
}

describe("oncely/client: a streamed answer whose connection drops", () => {
  const servers: RunningServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });
  const client = createClient({ backoff: { base: 1, cap: 5 } });
  const post = (url: string) => client(`${url}/stream`, { method: "POST", body: "{}" });

  it("server-sent events: resumed after the last event with Last-Event-ID, the same bytes, one run", async () => {
    const { server, arrivals, runs } = await serve(SSE, "text/event-stream");
    servers.push(server);
    const response = await post(server.url);
    expect(await response.text()).toBe(SSE.join(""));
    expect(runs()).toBe(1);
    expect(arrivals).toHaveLength(2);
    expect(arrivals[1]!["idempotency-key"]).toBe(arrivals[0]!["idempotency-key"]);
    expect(arrivals[1]!["last-event-id"]).toBe(String(DROP_AFTER - 1));
    expect(idempotencyInfo(response)).toMatchObject({ replayed: false, attempts: 1 });
  });

  it("NDJSON: answered again from the start, the bytes already read skipped, one run", async () => {
    const { server, arrivals, runs } = await serve(NDJSON, "application/x-ndjson");
    servers.push(server);
    const response = await post(server.url);
    expect(await response.text()).toBe(NDJSON.join(""));
    expect(runs()).toBe(1);
    expect(arrivals[1]!["last-event-id"]).toBeUndefined();
  });

  it("a retry not answered from the same recorded stream errors the body instead of stitching two answers", async () => {
    const { server, runs } = await serve(NDJSON, "application/x-ndjson", false);
    servers.push(server);
    const response = await post(server.url);
    const error = await response.text().then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(StreamResumeError);
    expect(runs()).toBe(2);
  });
});
