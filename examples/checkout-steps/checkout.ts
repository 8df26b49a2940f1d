import { type Idempotency, type Step, TerminalError } from "../../src/index.js";
import type { Mailer, PaymentProvider, Stock } from "./services.js";

export interface Order {
  sku: string;
  qty: number;
  amount: number;
  card: string;
  email: string;
}

export type Receipt = { status: "paid"; hold: string; charge: string } | { status: "declined"; reason: string };

export interface CheckoutServices {
  stock: Stock;
  psp: PaymentProvider;
  mailer: Mailer;
}

/**
 * The checkout as recorded steps. A retry after a crash skips the steps already recorded; a step interrupted after
 * its effect runs again with the same `s.key`, which each downstream service deduplicates on.
 */
export function checkout(services: CheckoutServices) {
  return async (order: Order, step: Step): Promise<Receipt> => {
    const hold = await step("reserve", async (s) => {
      const { id } = await services.stock.reserve(order.sku, order.qty, s.key);
      return { id, ref: s.key };
    });
    let charge: string;
    try {
      charge = await step("charge", async (s) => {
        const result = await services.psp.charge(order.card, order.amount, s.key);
        if (result.declined) throw new TerminalError("card declined", { details: { card: order.card } });
        return result.id;
      });
    } catch (error) {
      if (!(error instanceof TerminalError)) throw error;
      // The decline is recorded: a retry lands here again, and the stock is released once.
      await step("release-stock", () => services.stock.release(hold.ref));
      return { status: "declined", reason: error.message };
    }
    await step("email", (s) => services.mailer.send(order.email, s.key));
    return { status: "paid", hold: hold.id, charge };
  };
}

/** Registers the checkout by name, so `idem.recover()` can finish runs whose client never retried. */
export function defineCheckout(idem: Idempotency, services: CheckoutServices) {
  idem.define("checkout", checkout(services));
}
