import type { AddressInfo } from "node:net";
import { createPaymentsApp } from "./app.js";
import { openDemoDatabase } from "./database.js";

// One SQLite file holds oncely's records and the charges: both survive a restart (delete it to start over).
const databasePath = process.env.ONCELY_DEMO_DB ?? "./oncely-demo.db";
// The startup check: a database that cannot be opened (a bad path, a missing driver) stops the demo here, with the
// cause, rather than answering the first request 503. `idem.ready()` is what a server on any store calls before
// listening.
const { app, idem, database } = await openDemoDatabase(databasePath)
  .then(async (database) => {
    const demo = createPaymentsApp(database, (event) => {
      console.log(`  [oncely] ${event.type.padEnd(9)} key=${event.key ?? "-"} status=${event.status ?? "-"}`);
    });
    await demo.idem.ready();
    return { ...demo, database };
  })
  .catch((error: Error) => {
    console.error(`oncely demo: cannot open ${databasePath}: ${error.message}`);
    process.exit(1);
  });

const server = app.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const charge = (key: string, amount: number) =>
    `curl -i -X POST ${url}/charges -H 'Idempotency-Key: ${key}' -H 'Content-Type: application/json' -d '{"amount":${amount}}'`;
  console.log(`oncely demo: a payments API on ${url} (keys and charges in ${databasePath})

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
7. Restart the demo (Ctrl-C, npm start) and run 2 and 6 again: still a replay, still the same charges.
`);
});

const shutdown = () => {
  server.close(async () => {
    await idem.close();
    database.close();
  });
  // Idle keep-alive connections (curl, fetch) would hold the close open for seconds.
  server.closeIdleConnections();
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
