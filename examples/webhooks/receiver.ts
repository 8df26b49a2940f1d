import { createHmac, timingSafeEqual } from "node:crypto";
import express from "express";
import type { Idempotency } from "../../src/index.js";

/** What the billing provider posts: the event id is unique per event and the same on every resend. */
export interface BillingEvent {
  id: string;
  type: string;
  data: { customer: string; invoice: string };
}

export interface Mailer {
  send(to: string, subject: string): Promise<{ messageId: string }>;
}

/** The sender's signature: HMAC-SHA256 of the exact request body with the shared secret. */
export function sign(secret: string, body: string | Uint8Array): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/**
 * A webhook receiver that sends one receipt per event, even when the sender resends it (after a timeout, or several
 * copies at once). The key is the sender's event id from the verified payload: senders send no Idempotency-Key.
 */
export function createWebhookReceiver(idem: Idempotency, mailer: Mailer, secret: string) {
  const app = express();
  // Raw bytes, not parsed JSON: the signature covers exactly what was sent.
  app.post("/webhooks/billing", express.raw({ type: "application/json" }), async (req, res) => {
    const body = req.body as Buffer;
    const expected = Buffer.from(sign(secret, body));
    const given = Buffer.from(req.get("x-signature") ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.status(401).json({ error: "invalid signature" });
      return;
    }
    const event = JSON.parse(body.toString("utf8")) as BillingEvent;
    // Concurrent copies wait for the first and get its result; if the work throws, the error answers 500 and the
    // sender's next resend runs it again. Records outlive the sender's retry window (Stripe's is 3 days).
    const receipt = await idem.run(
      event.id,
      () => mailer.send(event.data.customer, `Receipt for invoice ${event.data.invoice}`),
      { scope: "billing-provider", name: "billing-webhook", onInFlight: "wait", ttl: "7d" },
    );
    res.json({ received: event.id, messageId: receipt.messageId });
  });
  return app;
}
