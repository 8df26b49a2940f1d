import { randomUUID } from "node:crypto";
import express from "express";
import { idempotency } from "../../src/http/express.js";
import { createIdempotency, type IdempotencyEvent, type Store } from "../../src/index.js";

interface Charge {
  id: string;
  account: string;
  amount: number;
  currency: string;
  created: string;
}

/**
 * A tiny payments API: POST /charges is guarded by oncely (a key is required), GET /charges lists what was charged,
 * so a double charge would be plain to see.
 */
export function createPaymentsApp(store: Store, onEvent?: (event: IdempotencyEvent) => void) {
  const idem = createIdempotency({
    store,
    // Each account has its own key space; in a real app this comes from authentication, not a header.
    scope: (req) => (req.headers["x-account"] as string | undefined) ?? "acct_demo",
    onEvent,
  });
  const charges: Charge[] = [];
  const app = express();

  app.post("/charges", express.json(), idempotency(idem, { required: true }), async (req, res) => {
    const { amount, currency = "eur" } = req.body ?? {};
    if (!Number.isInteger(amount) || amount <= 0) {
      res.status(400).json({ error: "amount must be a positive integer (minor units)" });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 500)); // the card network is slow
    const charge: Charge = {
      id: `ch_${randomUUID().slice(0, 8)}`,
      account: (req.headers["x-account"] as string | undefined) ?? "acct_demo",
      amount,
      currency,
      created: new Date().toISOString(),
    };
    charges.push(charge);
    res.status(201).json(charge);
  });
  app.get("/charges", (_req, res) => {
    res.json({ count: charges.length, charges });
  });
  return { app, idem, charges };
}
