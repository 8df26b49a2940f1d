// The Worker bench/engine.mjs runs on workerd (through Miniflare) for the Durable Object store: the same loop as on
// Node.js (engine-loop.mjs), inside the Worker, on DurableObjectStore over SQLite-backed objects of the class below.
// POST / with {"samples","count"} answers the figures as JSON. Bundled with oncely's dist inside by engine.mjs.
import { DurableObject } from "cloudflare:workers";
import { DurableObjectStore, IdempotencyObject } from "../dist/stores/durable-object/index.js";
import { measureStore } from "./engine-loop.mjs";

export class Idempotency extends IdempotencyObject(DurableObject) {}

export default {
  async fetch(request, env) {
    const { samples, count } = await request.json();
    const store = new DurableObjectStore({ namespace: env.IDEMPOTENCY, name: crypto.randomUUID() });
    return Response.json(await measureStore(store, { samples, count }));
  },
};
