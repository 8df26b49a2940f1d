import { describe, expect, it } from "vitest";
import { checkout, defineCheckout, type Order } from "../../examples/checkout-steps/checkout.js";
import { Mailer, PaymentProvider, Stock } from "../../examples/checkout-steps/services.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";

const order: Order = { sku: "tee", qty: 1, amount: 2500, card: "4242", email: "a@example.com" };

function setup() {
  const services = { stock: new Stock(), psp: new PaymentProvider(), mailer: new Mailer() };
  const idem = createIdempotency({ store: new MemoryStore() });
  defineCheckout(idem, services);
  return { services, idem };
}

describe("example: checkout with recorded steps", () => {
  it("resumes at the email after a failure there, charging and reserving once", async () => {
    const { services, idem } = setup();
    services.mailer.failures = 1;
    await expect(idem.run("order-1", (step) => checkout(services)(order, step))).rejects.toThrow(/mail server/);
    const receipt = await idem.run("order-1", (step) => checkout(services)(order, step));
    expect(receipt).toEqual({ status: "paid", hold: "hold_1", charge: "ch_1" });
    expect(services.psp.charges.size).toBe(1);
    expect(services.stock.holds.size).toBe(1);
    expect(services.mailer.sent.size).toBe(1);
  });

  it("records a decline, releases the stock once, and answers every retry the same", async () => {
    const { services, idem } = setup();
    services.psp.declined.add(order.card);
    const first = await idem.run("order-2", (step) => checkout(services)(order, step));
    expect(first).toEqual({ status: "declined", reason: "card declined" });
    expect(await idem.run("order-2", (step) => checkout(services)(order, step))).toEqual(first);
    expect(services.stock.holds.size).toBe(0);
    expect(services.psp.charges.size).toBe(0);
  });

  it("finishes a run started by name whose client never retried, from its stored input", async () => {
    const { services, idem } = setup();
    services.mailer.failures = 1;
    await expect(idem.run("order-3", "checkout", order)).rejects.toThrow(/mail server/);
    expect(await idem.recover()).toEqual({ completed: 1, failed: 0, skipped: 0 });
    expect(services.mailer.sent.size).toBe(1);
    expect(await idem.run("order-3", "checkout", order)).toEqual({ status: "paid", hold: "hold_1", charge: "ch_1" });
    expect(services.psp.charges.size).toBe(1);
  });
});
