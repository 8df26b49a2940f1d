import type { Idempotency } from "../../src/index.js";

export interface EmailMessage {
  to: string;
  subject: string;
  /** Sent as the provider's idempotency key (or used as the Message-ID): the provider drops a repeat of it. */
  idempotencyKey: string;
}

export interface EmailProvider {
  send(message: EmailMessage): Promise<{ id: string }>;
}

export interface Order {
  id: string;
  account: string;
  customer: string;
  warehouse: string;
}

/**
 * Sends an order's receipt and pick list. If the second send fails, the whole function is retried, and the receipt is
 * sent again: with the same derived key, so the provider delivers it once. `context.deriveKey(label)` is the same on
 * every retry of this (account, order) and different per label, so the two emails never collapse into one.
 */
export function sendOrderEmails(idem: Idempotency, provider: EmailProvider, order: Order) {
  return idem.run(
    order.id,
    async (context) => {
      const receipt = await provider.send({
        to: order.customer,
        subject: `Your order ${order.id}`,
        idempotencyKey: context.deriveKey("receipt"),
      });
      const pickList = await provider.send({
        to: order.warehouse,
        subject: `Pick list for ${order.id}`,
        idempotencyKey: context.deriveKey("pick-list"),
      });
      return { receipt: receipt.id, pickList: pickList.id };
    },
    { scope: order.account, name: "order-emails" },
  );
}
