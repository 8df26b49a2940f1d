import { withIdempotency } from "../../src/adapters/fetch/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";

// An orders endpoint on Deno's own server (Deno.serve), guarded by oncely's fetch adapter: a retried POST /orders
// with the same Idempotency-Key gets the first answer back instead of a second order. Run from the repository:
// `deno run --sloppy-imports --allow-net --allow-env --allow-read examples/deno/server.ts` (PORT sets the port).

declare const Deno: {
  env: { get(name: string): string | undefined };
  serve(
    options: { hostname: string; port: number; onListen: (address: { hostname: string; port: number }) => void },
    handler: (request: Request) => Promise<Response>,
  ): unknown;
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

Deno.serve(
  {
    hostname: "127.0.0.1",
    port: Number(Deno.env.get("PORT") ?? 3000),
    onListen: ({ hostname, port }) => console.log(`listening http://${hostname}:${port}`),
  },
  async (request) => {
    const { pathname } = new URL(request.url);
    if (request.method === "POST" && pathname === "/orders") return createOrder(request);
    if (request.method === "GET" && pathname === "/orders") return Response.json({ orders });
    return new Response("not found", { status: 404 });
  },
);
