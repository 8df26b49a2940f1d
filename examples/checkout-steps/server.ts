/**
 * A checkout API whose handler is made of recorded steps: `npx tsx examples/checkout-steps/server.ts`, then the curl
 * lines it prints. The mailer fails the first send, as if the process had died after charging: the retry resumes
 * at the email, and the card is charged once.
 */
import { createServer } from "node:http";
import express from "express";
import { idempotency } from "../../src/adapters/express/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import { checkout, defineCheckout, type Order } from "./checkout.js";
import { Mailer, PaymentProvider, Stock } from "./services.js";

const services = { stock: new Stock(), psp: new PaymentProvider(), mailer: new Mailer() };
services.mailer.failures = 1;
services.psp.declined.add("4000-0000-0000-0002");

const idem = createIdempotency({ store: new MemoryStore() });
defineCheckout(idem, services);
const run = checkout(services);

const app = express();
app.post("/checkout", express.json(), idempotency(idem, { required: true }), async (req, res, next) => {
  try {
    const receipt = await run(req.body as Order, req.idempotency!.step);
    res.status(receipt.status === "paid" ? 201 : 402).json(receipt);
  } catch (error) {
    next(error);
  }
});
app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
  res.status(500).json({ error: error.message, retry: "send the same request again with the same Idempotency-Key" });
});
app.get("/charges", (_req, res) => res.json(Object.fromEntries(services.psp.charges)));

// Runs started by name whose client never came back are finished from their stored input.
setInterval(() => void idem.recover(), 10_000).unref();

// The startup check: with a networked store, a bad URL fails here, at boot, not on the first checkout.
await idem.ready();

const port = Number(process.env.PORT ?? 3006);
createServer(app).listen(port, "127.0.0.1", () => {
  const order = `'{"sku":"tee","qty":1,"amount":2500,"card":"4242","email":"a@example.com"}'`;
  const post = `curl -s -X POST http://127.0.0.1:${port}/checkout -H 'content-type: application/json' -H 'idempotency-key: order-1' -d ${order}`;
  console.log(`checkout-steps listening on http://127.0.0.1:${port}
  ${post}     # 500: charged, then the mailer failed
  ${post}     # 201: resumed at the email; not charged again
  curl -s http://127.0.0.1:${port}/charges          # one charge`);
});
