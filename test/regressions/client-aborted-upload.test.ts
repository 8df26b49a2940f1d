/**
 * A client that hangs up mid-upload, while oncely reads the request body: the adapters reported it as `check-failed`,
 * an error ("oncely could not do its job"), and the default log wrote it with `console.error`. Nothing is wrong with
 * the app or with oncely there; it is now a `client-aborted` event, written as a warning. Nothing is claimed, so the
 * client's retry runs the handler.
 */
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { connect } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createIdempotency, type IdempotencyEvent, MemoryStore } from "../../src/index.js";
import type { RunningServer, StartServer } from "../http/app-spec.js";
import { startHono, startKoa, startNode } from "../http/apps.js";

const adapters: [string, StartServer][] = [
  ["node", startNode],
  ["koa", startKoa],
  ["hono on @hono/node-server", startHono],
];

/**
 * Sends the headers of a POST announcing 100 bytes, waits for the server's `100 Continue` (its request handler has
 * run), sends 10 of the bytes and closes the connection.
 */
async function abortMidUpload(url: string, key: string): Promise<void> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, "connect");
  socket.write(
    `POST /charges HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n` +
      `Idempotency-Key: ${key}\r\nExpect: 100-continue\r\n\r\n`,
  );
  const [interim] = (await once(socket, "data")) as [Buffer];
  expect(interim.toString("latin1")).toMatch(/^HTTP\/1\.1 100 Continue/);
  socket.write('{"amount":');
  socket.destroy();
}

describe.each(adapters)("a client that hangs up mid-upload: %s", (_name, start) => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
  });

  it("is a client-aborted warning, claims nothing, and the retry runs the handler", async () => {
    const events: IdempotencyEvent[] = [];
    const logger = { warn: vi.fn(), error: vi.fn() };
    const idem = createIdempotency({ store: new MemoryStore(), onEvent: (event) => events.push(event), logger });
    let runs = 0;
    server = await start(idem, [
      {
        method: "POST",
        path: "/charges",
        handle: async () => {
          runs += 1;
          return { status: 201, headers: [["content-type", "application/json"]], body: '{"id":"ch_1"}' };
        },
      },
    ]);
    const key = randomUUID();
    await abortMidUpload(server.url, key);
    await vi.waitFor(() => expect(events.map((event) => event.type)).toEqual(["client-aborted"]));
    expect(events[0]).toMatchObject({
      route: "POST /charges",
      key,
      reason: "the client closed the connection before its request body was read",
    });
    expect(events[0]!.status).toBeUndefined();
    expect(logger.error).not.toHaveBeenCalled();
    expect(logger.warn).toHaveBeenCalledWith(expect.stringContaining("client-aborted on POST /charges"));
    expect(runs).toBe(0);

    const retry = await fetch(`${server.url}/charges`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: '{"amount":1000}',
    });
    expect(retry.status).toBe(201);
    expect(runs).toBe(1);
  });
});
