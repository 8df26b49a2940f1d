import type { Server } from "node:http";
import { connect } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { idempotency } from "../../src/adapters/hono/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import { listen } from "../http/servers.js";

// Found while fuzzing (test/reliability/fuzz.test.ts): for a chunked request (no Content-Length) the Hono middleware
// read the whole body with `c.req.arrayBuffer()` before comparing it with `maxRequestBytes`, so a client could make the
// server buffer an upload of any size; the 413 came only after the last byte. Other adapters stop at the limit.
describe("regression: a chunked body over maxRequestBytes on Hono", () => {
  it("is refused without reading it to the end, and a chunked body within the limit still reaches the handler", async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    const app = new Hono();
    let runs = 0;
    app.post("/uploads", idempotency(idem, { maxRequestBytes: 1024 }), async (c) => {
      runs++;
      return c.json({ received: (await c.req.arrayBuffer()).byteLength }, 201);
    });
    const server = await listen(createAdaptorServer({ fetch: app.fetch }) as Server);
    const port = Number(new URL(server.url).port);
    try {
      const total = 32 * 1024 * 1024;
      const written = await new Promise<number>((resolve, reject) => {
        const socket = connect({ port, host: "127.0.0.1" });
        let sent = 0;
        let answered = false;
        socket.on("data", (data) => {
          answered = true;
          expect(data.toString().split("\r\n")[0]).toBe("HTTP/1.1 413 Payload Too Large");
          socket.destroy();
          resolve(sent);
        });
        socket.on("error", reject);
        socket.write(
          "POST /uploads HTTP/1.1\r\nhost: x\r\nidempotency-key: big\r\ncontent-type: application/octet-stream\r\n" +
            "transfer-encoding: chunked\r\n\r\n",
        );
        const chunk = Buffer.concat([Buffer.from("10000\r\n"), Buffer.alloc(65536, 97), Buffer.from("\r\n")]);
        const pump = () => {
          while (!answered && sent < total) {
            sent += 65536;
            if (!socket.write(chunk)) return void socket.once("drain", pump);
          }
          if (!answered) socket.write("0\r\n\r\n");
        };
        pump();
      });
      // Answered while the upload was still going: the server stopped reading near the limit.
      expect(written).toBeLessThan(total);
      expect(runs).toBe(0);

      const small = await fetch(`${server.url}/uploads`, {
        method: "POST",
        headers: { "idempotency-key": "small", "content-type": "application/octet-stream" },
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(new Uint8Array(600).fill(1));
            controller.enqueue(new Uint8Array(400).fill(2));
            controller.close();
          },
        }),
        duplex: "half",
      } as RequestInit);
      expect(small.status).toBe(201);
      expect(await small.json()).toEqual({ received: 1000 });
      expect(runs).toBe(1);
    } finally {
      await server.close();
      await idem.close();
    }
  }, 60_000);
});
