import { withIdempotency } from "../../src/adapters/fetch/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";

// An orders endpoint on Bun's own server (Bun.serve), guarded by oncely's fetch adapter: a retried POST /orders
// with the same Idempotency-Key gets the first answer back instead of a second order. Run: `bun examples/bun/server.ts`
// (PORT sets the port; 0 picks a free one).

declare const Bun: {
  env: Record<string, string | undefined>;
  serve(options: { hostname: string; port: number; fetch: (request: Request) => Promise<Response> }): { url: URL };
};

const idem = createIdempotency({ store: new MemoryStore() });
let orders = 0;

const createOrder = withIdempotency(
  idem,
  async (request) => {
    const { item } = (await request.json()) as { item: string };
    orders++;
    return Response.json({ order: orders, item }, { status: 201 });
  },
  { required: true },
);

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(Bun.env.PORT ?? 3000),
  fetch: async (request) => {
    const { pathname } = new URL(request.url);
    if (request.method === "POST" && pathname === "/orders") return createOrder(request);
    if (request.method === "GET" && pathname === "/orders") return Response.json({ orders });
    return new Response("not found", { status: 404 });
  },
});
console.log(`listening ${server.url.origin}`);
