import { describe, expect, it } from "vitest";
import { withIdempotency } from "../../src/adapters/fetch/index.js";
import { createIdempotency, MemoryStore, type RouteOptions } from "../../src/index.js";

// What the README's "Why a 5xx is not stored" says, run: oncely's default releases a 5xx, and
// `storeWhen: () => true` stores it as Stripe does, while a thrown handler still releases its key.
function chargeRoute(options: Pick<RouteOptions, "storeWhen">, outcome: "answer 500" | "throw") {
  const idem = createIdempotency({ store: new MemoryStore(), logger: false, ...options });
  let runs = 0;
  const handler = withIdempotency(idem, async () => {
    runs += 1;
    if (outcome === "throw") throw new Error("the database failed over");
    return Response.json({ error: "the database failed over", run: runs }, { status: 500 });
  });
  const send = () =>
    handler(
      new Request("http://localhost/charges", {
        method: "POST",
        headers: { "idempotency-key": "order-1", "content-type": "application/json" },
        body: JSON.stringify({ amount: 1000 }),
      }),
    );
  return { send, runs: () => runs };
}

describe("README: why a 5xx is not stored", () => {
  it("by default, a 500 releases the key: the retry runs the handler again", async () => {
    const route = chargeRoute({}, "answer 500");
    expect((await route.send()).status).toBe(500);
    const retry = await route.send();
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
    expect(await retry.json()).toEqual({ error: "the database failed over", run: 2 });
    expect(route.runs()).toBe(2);
  });

  it("with storeWhen: () => true, a 500 is stored and replayed, as Stripe does", async () => {
    const route = chargeRoute({ storeWhen: () => true }, "answer 500");
    expect((await route.send()).status).toBe(500);
    const retry = await route.send();
    expect(retry.status).toBe(500);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.json()).toEqual({ error: "the database failed over", run: 1 });
    expect(route.runs()).toBe(1);
  });

  it("with storeWhen: () => true, a handler that throws still releases its key", async () => {
    const route = chargeRoute({ storeWhen: () => true }, "throw");
    await expect(route.send()).rejects.toThrow("the database failed over");
    await expect(route.send()).rejects.toThrow("the database failed over");
    expect(route.runs()).toBe(2);
  });
});
