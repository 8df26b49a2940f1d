import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrdersApp } from "../../examples/fastify/app.js";
import { MemoryStore } from "../../src/index.js";
import { untilInFlight } from "../support/until.js";

describe("example: Fastify orders API", () => {
  let url: string;
  let demo: Awaited<ReturnType<typeof createOrdersApp>>;
  const store = new MemoryStore();
  beforeAll(async () => {
    demo = await createOrdersApp(store);
    url = await demo.app.listen({ port: 0, host: "127.0.0.1" });
  });
  afterAll(() => demo.app.close());

  const order = (key: string | undefined, body: unknown = { item: "tea", quantity: 2 }) =>
    fetch(`${url}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
      body: JSON.stringify(body),
    });

  it("creates one order per key: the retry replays it, a concurrent duplicate gets 409, another body 422", async () => {
    const first = await order("order-1");
    expect(first.status).toBe(201);
    const created = await first.json();
    const replay = await order("order-1");
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.json()).toEqual(created);

    const running = order("order-2");
    await untilInFlight(store, "order-2");
    expect((await order("order-2")).status).toBe(409);
    expect((await running).status).toBe(201);

    expect((await order("order-1", { item: "coffee" })).status).toBe(422);
    expect((await order(undefined)).status).toBe(400);
    expect(demo.orders).toHaveLength(2);
    expect((await (await fetch(`${url}/orders`)).json()).count).toBe(2);
  });
});
