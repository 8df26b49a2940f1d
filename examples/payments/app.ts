import { randomUUID } from "node:crypto";
import express from "express";
import { idempotency } from "../../src/adapters/express/index.js";
import { createIdempotency, type IdempotencyEvent } from "../../src/index.js";
import { type SqliteDatabase, SqliteStore } from "../../src/stores/sqlite/index.js";

interface Charge {
  id: string;
  account: string;
  amount: number;
  currency: string;
  created: string;
}

/**
 * A tiny payments API: POST /charges is guarded by oncely (a key is required), GET /charges lists what was charged,
 * so a double charge would be plain to see. The charges and oncely's records share one SQLite database: after a
 * restart a retried charge is still a replay, and still listed.
 */
export function createPaymentsApp(database: SqliteDatabase, onEvent?: (event: IdempotencyEvent) => void) {
  database.exec(`CREATE TABLE IF NOT EXISTS charges (
    id TEXT PRIMARY KEY, account TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, created TEXT NOT NULL
  )`);
  const insert = database.prepare(
    "INSERT INTO charges (id, account, amount, currency, created) VALUES (?, ?, ?, ?, ?)",
  );
  const list = database.prepare("SELECT id, account, amount, currency, created FROM charges ORDER BY rowid");
  const idem = createIdempotency({
    store: new SqliteStore({ database }),
    // Each account has its own key space; in a real app this comes from authentication, not a header.
    scope: (req) => (req.headers["x-account"] as string | undefined) ?? "acct_demo",
    onEvent,
  });
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
    insert.run(charge.id, charge.account, charge.amount, charge.currency, charge.created);
    res.status(201).json(charge);
  });
  app.get("/charges", (_req, res) => {
    const charges = list.all() as Charge[];
    res.json({ count: charges.length, charges });
  });
  return { app, idem };
}
