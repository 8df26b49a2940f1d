import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { idempotency } from "../../src/adapters/hono/index.js";
import { createIdempotency, type IdempotencyEvent, MemoryStore, type Store } from "../../src/index.js";

interface Booking {
  id: string;
  room: string;
  nights: number;
  /** The key our call to the hotel's API would carry: the same on every retry of this booking. */
  hotelKey: string | undefined;
  created: string;
}

/**
 * A tiny bookings API on Hono: POST /bookings books a room and is guarded by oncely (a key is required there),
 * GET /bookings lists what was booked, so a double booking would be plain to see.
 */
export function createBookingsApp(store: Store, onEvent?: (event: IdempotencyEvent) => void) {
  const idem = createIdempotency({ store, onEvent });
  const bookings: Booking[] = [];
  const app = new Hono();

  app.post("/bookings", idempotency(idem, { required: true }), async (c) => {
    // oncely read the body for the fingerprint; Hono kept it, so the handler parses it as usual.
    const body: { room?: unknown; nights?: unknown } = await c.req.json().catch(() => ({})); // bad JSON: 400 below
    const { room, nights = 1 } = body;
    if (typeof room !== "string" || !Number.isInteger(nights) || (nights as number) < 1) {
      return c.json({ error: "`room` is a required string, `nights` a positive integer" }, 400);
    }
    await new Promise((resolve) => setTimeout(resolve, 300)); // the hotel's system is slow
    const booking: Booking = {
      id: `bk_${randomUUID().slice(0, 8)}`,
      room,
      nights: nights as number,
      hotelKey: c.get("idempotency")?.deriveKey("hotel"),
      created: new Date().toISOString(),
    };
    bookings.push(booking);
    return c.json(booking, 201);
  });
  app.get("/bookings", (c) => c.json({ count: bookings.length, bookings }));
  return { app, idem, bookings };
}

// `npx tsx examples/hono/app.ts` serves it with @hono/node-server on port 3003.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3003);
  const { app, idem } = createBookingsApp(new MemoryStore(), (event) => {
    console.log(`  [oncely] ${event.type.padEnd(9)} key=${event.key ?? "-"} status=${event.status ?? "-"}`);
  });
  await idem.ready(); // the startup check: a store that cannot be reached fails here, at boot
  serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, () => {
    const url = `http://127.0.0.1:${port}`;
    const book = (key: string, room: string) =>
      `curl -i -X POST ${url}/bookings -H 'Idempotency-Key: ${key}' -H 'Content-Type: application/json' -d '{"room":"${room}","nights":2}'`;
    console.log(`oncely + Hono: a bookings API on ${url}

  ${book("trip-1", "101")}    # 201, the room is booked
  ${book("trip-1", "101")}    # the same 201 again, Idempotent-Replayed: true
  ${book("trip-1", "202")}    # 422: the key was used for another booking
  curl -s ${url}/bookings    # one booking
`);
  });
}
