/**
 * The downstream services a checkout touches, as in-memory fakes that behave like the real ones in the one way that
 * matters here: each honours the key it is given, so a call repeated with the same key has its effect once.
 */

export class Stock {
  readonly holds = new Map<string, { sku: string; qty: number }>();

  /** Holds `qty` of `sku` under `ref`; the same ref again returns the same hold. */
  async reserve(sku: string, qty: number, ref: string): Promise<{ id: string }> {
    if (!this.holds.has(ref)) this.holds.set(ref, { sku, qty });
    return { id: `hold_${[...this.holds.keys()].indexOf(ref) + 1}` };
  }

  async release(ref: string): Promise<void> {
    this.holds.delete(ref);
  }
}

export class PaymentProvider {
  readonly charges = new Map<string, { id: string; amount: number }>();
  /** Cards this provider declines. */
  readonly declined = new Set<string>();

  /** Charges once per idempotency key, like Stripe: the same key returns the first charge. */
  async charge(card: string, amount: number, idempotencyKey: string): Promise<{ id: string; declined: boolean }> {
    if (this.declined.has(card)) return { id: "", declined: true };
    let charge = this.charges.get(idempotencyKey);
    if (!charge) {
      charge = { id: `ch_${this.charges.size + 1}`, amount };
      this.charges.set(idempotencyKey, charge);
    }
    return { id: charge.id, declined: false };
  }
}

export class Mailer {
  readonly sent = new Map<string, string>();
  /** Fails this many sends before it works, to stand in for an outage. */
  failures = 0;

  /** Sends once per message id, as mail providers deduplicate on Message-ID. */
  async send(to: string, messageId: string): Promise<void> {
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error("mail server unavailable");
    }
    if (!this.sent.has(messageId)) this.sent.set(messageId, to);
  }
}
