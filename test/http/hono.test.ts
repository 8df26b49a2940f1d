import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { type Context, Hono } from "hono";
import { afterEach, describe, expect, it } from "vitest";
import { idempotency } from "../../src/adapters/hono/index.js";
import { createIdempotency } from "../../src/core/engine.js";
import { MemoryStore } from "../../src/stores/memory/index.js";
import type { RunningServer } from "./app-spec.js";
import { startHono } from "./apps.js";
import { describeHttpSemantics } from "./semantics.js";
import { listen } from "./servers.js";
import { honoApp } from "./web-apps.js";

describeHttpSemantics("hono", startHono);

// As on Workers, Deno or Bun: no Node request in `c.env`, so the adapter reads the headers through Hono.
describeHttpSemantics("hono without Node bindings", async (idem, routes) => {
  const app = honoApp(idem, routes);
  return listen(createAdaptorServer({ fetch: (request: Request) => app.fetch(request) }) as Server);
});

describe("hono: the body oncely read, as the handler reads it", () => {
  const key = { "idempotency-key": "body-readers" };
  let server: RunningServer;
  afterEach(() => server?.close());

  async function echo(read: (c: Context) => Promise<unknown>, body: BodyInit, contentType: string) {
    const idem = createIdempotency({ store: new MemoryStore() });
    const app = new Hono();
    app.post("/echo", idempotency(idem), async (c) => c.json({ read: await read(c) }));
    server = await listen(createAdaptorServer({ fetch: app.fetch }) as Server);
    const response = await fetch(`${server.url}/echo`, {
      method: "POST",
      headers: { ...key, "content-type": contentType },
      body,
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { read: unknown }).read;
  }

  it("parses JSON, and reads it again as text and as bytes", async () => {
    const body = '{ "amount": 100, "note": "café" }';
    const read = async (c: Context) => ({
      json: await c.req.json(),
      text: await c.req.text(),
      bytes: [...new Uint8Array(await c.req.arrayBuffer())].length,
    });
    expect(await echo(read, body, "application/json")).toEqual({
      json: { amount: 100, note: "café" },
      text: body,
      bytes: Buffer.byteLength(body),
    });
  });

  it("decodes text as Response.text() does: byte order mark dropped, invalid bytes replaced", async () => {
    const body = new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0xff, 0x62]);
    expect(await echo((c) => c.req.text(), body, "text/plain")).toBe(await new Response(body).text());
    expect(await echo((c) => c.req.text(), body, "text/plain")).toBe("a\ufffdb");
  });

  it("parses a form", async () => {
    const read = async (c: Context) => ({ ...(await c.req.parseBody()) });
    expect(await echo(read, "amount=100&currency=eur", "application/x-www-form-urlencoded")).toEqual({
      amount: "100",
      currency: "eur",
    });
  });

  it("rejects malformed JSON in the handler, as Hono does without oncely", async () => {
    const read = (c: Context) =>
      c.req.json().then(
        () => "parsed",
        (error: Error) => error.name,
      );
    expect(await echo(read, "{ not json", "application/json")).toBe("SyntaxError");
  });
});
