import { describe, expect, it } from "vitest";
import { type EmailMessage, type EmailProvider, sendOrderEmails } from "../../examples/outbound-email/order-emails.js";
import { createIdempotency, deriveKey, MemoryStore } from "../../src/index.js";

/** A provider that, like real ones, delivers a message once per idempotency key and answers repeats with its id. */
function fakeProvider(options: { failOnce?: (message: EmailMessage) => boolean } = {}) {
  const calls: EmailMessage[] = [];
  const delivered = new Map<string, EmailMessage & { id: string }>();
  let failed = false;
  const provider: EmailProvider = {
    async send(message) {
      calls.push(message);
      if (!failed && options.failOnce?.(message)) {
        failed = true;
        throw new Error("provider timed out");
      }
      const known = delivered.get(message.idempotencyKey);
      if (known) return { id: known.id };
      const id = `em_${delivered.size + 1}`;
      delivered.set(message.idempotencyKey, { ...message, id });
      return { id };
    },
  };
  return { provider, calls, delivered };
}

const order = { id: "ord_1", account: "acct_1", customer: "ada@example.com", warehouse: "wh@example.com" };

describe("example: outbound email with keys from deriveKey", () => {
  it("retried after a partial failure, sends the receipt again with the same key: delivered once", async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    const { provider, calls, delivered } = fakeProvider({ failOnce: (m) => m.subject.startsWith("Pick list") });
    await expect(sendOrderEmails(idem, provider, order)).rejects.toThrow("provider timed out");
    const result = await sendOrderEmails(idem, provider, order);

    expect(calls.map((c) => c.to)).toEqual([order.customer, order.warehouse, order.customer, order.warehouse]);
    expect(calls[2]!.idempotencyKey).toBe(calls[0]!.idempotencyKey);
    expect([...delivered.values()].map((m) => m.to)).toEqual([order.customer, order.warehouse]);
    expect(result).toEqual({ receipt: "em_1", pickList: "em_2" });

    // Done now: a further retry returns the stored result and calls the provider no more.
    expect(await sendOrderEmails(idem, provider, order)).toEqual(result);
    expect(calls).toHaveLength(4);
  });

  it("derives one key per (account, order, label): labels and accounts never share a key", async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    const { provider, calls } = fakeProvider();
    await sendOrderEmails(idem, provider, order);
    await sendOrderEmails(idem, provider, { ...order, account: "acct_2" });
    const [receipt, pickList, otherReceipt] = calls.map((c) => c.idempotencyKey);
    expect(receipt).toBe(deriveKey({ scope: "acct_1", key: "ord_1" }, "receipt"));
    expect(pickList).toBe(deriveKey({ scope: "acct_1", key: "ord_1" }, "pick-list"));
    expect(pickList).not.toBe(receipt);
    expect(otherReceipt).not.toBe(receipt);
  });
});
