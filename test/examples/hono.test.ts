import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBookingsApp } from "../../examples/hono/app.js";
import { MemoryStore } from "../../src/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { listen } from "../http/servers.js";
import { untilInFlight } from "../support/until.js";

describe("example: Hono bookings API", () => {
  let server: RunningServer;
  let demo: ReturnType<typeof createBookingsApp>;
  const store = new MemoryStore();
  beforeAll(async () => {
    demo = createBookingsApp(store);
    server = await listen(createAdaptorServer({ fetch: demo.app.fetch }) as Server);
  });
  afterAll(() => server.close());

  const book = (key: string | undefined, body: unknown = { room: "101", nights: 2 }) =>
    fetch(`${server.url}/bookings`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
      body: JSON.stringify(body),
    });

  it("books once per key: the retry replays it, a concurrent duplicate gets 409, another body 422", async () => {
    const first = await book("trip-1");
    expect(first.status).toBe(201);
    const booking = await first.json();
    expect(booking).toMatchObject({ room: "101", nights: 2 });
    expect(booking.hotelKey).toMatch(/\S/);
    const replay = await book("trip-1");
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.json()).toEqual(booking);

    const running = book("trip-2", { room: "202" });
    await untilInFlight(store, "trip-2");
    expect((await book("trip-2", { room: "202" })).status).toBe(409);
    expect((await running).status).toBe(201);

    expect((await book("trip-1", { room: "303", nights: 2 })).status).toBe(422);
    expect((await book(undefined)).status).toBe(400);
    expect(demo.bookings).toHaveLength(2);
    expect((await (await fetch(`${server.url}/bookings`)).json()).count).toBe(2);
  });
});
