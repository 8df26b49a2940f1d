import { SqliteStore } from "../../src/stores/sqlite.js";
import { createPaymentsApp } from "./app.js";

const port = Number(process.env.PORT ?? 3000);
// The embedded store: records survive a restart of the demo (delete oncely-demo.db to start over).
const storePath = process.env.ONCELY_DEMO_DB ?? "./oncely-demo.db";
const { app, idem } = createPaymentsApp(new SqliteStore({ path: storePath }), (event) => {
  console.log(`  [oncely] ${event.type.padEnd(9)} key=${event.key ?? "-"} status=${event.status ?? "-"}`);
});

// The startup check: a store that cannot be opened (a bad path or URL, a missing driver) stops the demo here, with
// the cause, rather than answering the first request 503.
await idem.ready().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});

const server = app.listen(port, "127.0.0.1", () => {
  const url = `http://127.0.0.1:${port}`;
  const charge = (key: string, amount: number) =>
    `curl -i -X POST ${url}/charges -H 'Idempotency-Key: ${key}' -H 'Content-Type: application/json' -d '{"amount":${amount}}'`;
  console.log(`oncely demo: a payments API on ${url} (store: sqlite ${storePath})

1. A charge runs once and its response is stored:
   ${charge("order-1", 1000)}
2. The retry gets the stored response (Idempotent-Replayed: true), nothing is charged twice:
   ${charge("order-1", 1000)}
3. A duplicate sent while the first is still running gets 409 Conflict + Retry-After:
   ${charge("order-2", 500)} & sleep 0.1; ${charge("order-2", 500)}
4. The same key with a different body gets 422:
   ${charge("order-1", 9999)}
5. No key on a route that requires one gets 400:
   curl -i -X POST ${url}/charges -H 'Content-Type: application/json' -d '{"amount":1}'
6. What was actually charged:
   curl -s ${url}/charges
`);
});

const shutdown = () => server.close(() => void idem.close());
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
