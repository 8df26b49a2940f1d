import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A charge as the fake payment service records it. */
export interface Charge {
  id: string;
  key: string;
  amount: number;
}

/**
 * A downstream payment service that honours `Idempotency-Key` as real providers do: the first request with a key
 * charges (or declines, 402) and every later one with the same key gets the same answer without charging again.
 */
export interface PaymentService {
  readonly origin: string;
  /** Every charge made, in order: one per key at most. */
  readonly charges: Charge[];
  /** Every request received, retries with the same key included. */
  readonly requests: { key: string; amount: number }[];
  close(): Promise<void>;
}

export async function startPaymentService(): Promise<PaymentService> {
  const charges: Charge[] = [];
  const requests: { key: string; amount: number }[] = [];
  const answers = new Map<string, { status: number; body: string }>();
  const server: Server = createServer(async (req, res) => {
    let text = "";
    for await (const chunk of req) text += chunk;
    const key = req.headers["idempotency-key"];
    if (req.method !== "POST" || req.url !== "/charges" || typeof key !== "string") {
      res.writeHead(400).end();
      return;
    }
    const { amount, decline } = JSON.parse(text) as { amount: number; decline: boolean };
    requests.push({ key, amount });
    let answer = answers.get(key);
    if (!answer) {
      if (decline) {
        answer = { status: 402, body: JSON.stringify({ error: "card_declined" }) };
      } else {
        const charge = { id: `ch_${charges.length + 1}`, key, amount };
        charges.push(charge);
        answer = { status: 200, body: JSON.stringify({ id: charge.id, amount }) };
      }
      answers.set(key, answer);
    }
    res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.body);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    charges,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
