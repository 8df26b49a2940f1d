import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import Fastify from "fastify";
import { idempotency } from "../../src/adapters/fastify/index.js";
import { createIdempotency, type IdempotencyEvent, MemoryStore, type Store } from "../../src/index.js";

interface Order {
  id: string;
  item: string;
  quantity: number;
  created: string;
}

/**
 * A tiny orders API on Fastify: POST /orders is guarded by oncely (a key is required there), GET /orders lists
 * what was ordered, so a duplicate order would be plain to see.
 */
export async function createOrdersApp(store: Store, onEvent?: (event: IdempotencyEvent) => void) {
  const idem = createIdempotency({ store, onEvent });
  const orders: Order[] = [];
  const app = Fastify();
  // Registered before the routes it guards; not encapsulated, so routes in child plugins are guarded too.
  await app.register(idempotency(idem));

  app.post<{ Body: { item?: unknown; quantity?: unknown } }>(
    "/orders",
    {
      config: { idempotency: { required: true } },
      schema: {
        body: {
          type: "object",
          required: ["item"],
          properties: { item: { type: "string" }, quantity: { type: "integer", minimum: 1, default: 1 } },
        },
      },
    },
    async (request, reply) => {
      await new Promise((resolve) => setTimeout(resolve, 300)); // the warehouse is slow
      const order: Order = {
        id: `ord_${randomUUID().slice(0, 8)}`,
        item: request.body.item as string,
        quantity: request.body.quantity as number,
        created: new Date().toISOString(),
      };
      orders.push(order);
      reply.code(201);
      return order;
    },
  );
  app.get("/orders", async () => ({ count: orders.length, orders }));
  return { app, idem, orders };
}

// `npx tsx examples/fastify/app.ts` serves it on port 3001.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3001);
  const { app, idem } = await createOrdersApp(new MemoryStore(), (event) => {
    console.log(`  [oncely] ${event.type.padEnd(9)} key=${event.key ?? "-"} status=${event.status ?? "-"}`);
  });
  await idem.ready(); // the startup check: a store that cannot be reached fails here, at boot
  const url = await app.listen({ port, host: "127.0.0.1" });
  const order = (key: string) =>
    `curl -i -X POST ${url}/orders -H 'Idempotency-Key: ${key}' -H 'Content-Type: application/json' -d '{"item":"tea","quantity":2}'`;
  console.log(`oncely + Fastify: an orders API on ${url}

  ${order("order-1")}    # 201, the order is created
  ${order("order-1")}    # the same 201 again, Idempotent-Replayed: true
  curl -s ${url}/orders    # one order
`);
}
