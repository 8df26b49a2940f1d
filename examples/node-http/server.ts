import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { pathToFileURL } from "node:url";
import { withIdempotency } from "../../src/adapters/node/index.js";
import { createIdempotency, type IdempotencyEvent, MemoryStore, type Store } from "../../src/index.js";

interface TopUp {
  id: string;
  amount: number;
  /** The key our call to the card processor would carry: the same on every retry of this top-up. */
  processorKey: string | undefined;
  created: string;
}

/**
 * A tiny wallet on plain node:http: POST /top-ups credits the balance and is guarded by oncely (a key is required
 * there), GET /balance shows the balance and every top-up, so a double credit would be plain to see.
 */
export function createWalletServer(store: Store, onEvent?: (event: IdempotencyEvent) => void) {
  const idem = createIdempotency({ store, onEvent });
  const topUps: TopUp[] = [];

  // Only this handler is wrapped: node:http has no router, so oncely guards exactly what it wraps.
  const topUp = withIdempotency(
    idem,
    async (req, res, idempotency) => {
      // oncely read the body for the fingerprint and left it readable.
      const { amount } = (await readJson(req)) as { amount?: unknown };
      if (!Number.isInteger(amount) || (amount as number) <= 0) {
        return send(res, 400, { error: "amount must be a positive integer (cents)" });
      }
      await new Promise((resolve) => setTimeout(resolve, 300)); // the card processor is slow
      const created: TopUp = {
        id: `tu_${randomUUID().slice(0, 8)}`,
        amount: amount as number,
        processorKey: idempotency?.deriveKey("card-processor"),
        created: new Date().toISOString(),
      };
      topUps.push(created);
      send(res, 201, created);
    },
    { required: true },
  );

  const server = createServer((req, res) => {
    if (req.method === "POST" && req.url === "/top-ups") {
      // A handler that throws has released its key and answered 500; what is left is to log it.
      topUp(req, res).catch((error: unknown) => console.error(error));
    } else if (req.method === "GET" && req.url === "/balance") {
      send(res, 200, { balance: topUps.reduce((sum, t) => sum + t.amount, 0), topUps });
    } else {
      send(res, 404, { error: "not found" });
    }
  });
  return { server, idem, topUps };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString());
  } catch {
    return {}; // answered 400 by the handler
  }
}

// `npx tsx examples/node-http/server.ts` serves it on port 3005.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3005);
  const { server, idem } = createWalletServer(new MemoryStore(), (event) => {
    console.log(`  [oncely] ${event.type.padEnd(9)} key=${event.key ?? "-"} status=${event.status ?? "-"}`);
  });
  // The startup check: with a networked store, a bad URL fails here, at boot, not on the first top-up.
  await idem.ready();
  server.listen(port, "127.0.0.1", () => {
    const url = `http://127.0.0.1:${port}`;
    const topUp = (key: string, amount: number) =>
      `curl -i -X POST ${url}/top-ups -H 'Idempotency-Key: ${key}' -H 'Content-Type: application/json' -d '{"amount":${amount}}'`;
    console.log(`oncely + node:http: a wallet on ${url}

  ${topUp("topup-1", 500)}    # 201, the wallet is credited
  ${topUp("topup-1", 500)}    # the same 201 again, Idempotent-Replayed: true
  ${topUp("topup-1", 900)}    # 422: the key was used for another amount
  curl -s ${url}/balance    # 500, one top-up
`);
  });
}
