import { DurableObject } from "cloudflare:workers";
import { withIdempotency } from "../../src/adapters/fetch/index.js";
import { createIdempotency } from "../../src/index.js";
import {
  type DurableObjectNamespaceLike,
  DurableObjectStore,
  IdempotencyObject,
} from "../../src/stores/durable-object/index.js";

// An orders endpoint on Cloudflare Workers whose idempotency records live in Durable Objects: a retried POST
// /orders with the same Idempotency-Key gets the first answer back, whichever Worker instance the retry reaches.
// wrangler.toml binds IDEMPOTENCY to the class below as a SQLite-backed Durable Object. Run: `npx wrangler dev`.

/** The Durable Object class that holds the records. */
export class Idempotency extends IdempotencyObject(DurableObject) {}

interface Env {
  IDEMPOTENCY: DurableObjectNamespaceLike;
}

/** Orders, for the example: a real app writes them to its database. */
let orders = 0;

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (request.method !== "POST" || pathname !== "/orders") return new Response("not found", { status: 404 });
    const idem = createIdempotency({ store: new DurableObjectStore({ namespace: env.IDEMPOTENCY }) });
    const createOrder = withIdempotency(
      idem,
      async (req) => {
        const { item } = (await req.json()) as { item: string };
        orders++;
        return Response.json({ order: orders, item }, { status: 201 });
      },
      { required: true },
    );
    return createOrder(request);
  },
};
