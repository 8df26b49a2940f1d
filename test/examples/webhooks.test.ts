import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BillingEvent, createWebhookReceiver, type Mailer, sign } from "../../examples/webhooks/receiver.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { listen } from "../http/servers.js";

const SECRET = "whsec_test";

describe("example: webhook receiver keyed by the sender's event id", () => {
  let server: RunningServer;
  const sent: string[] = [];
  const mailer: Mailer = {
    async send(to, subject) {
      sent.push(`${to}: ${subject}`);
      await new Promise((resolve) => setTimeout(resolve, 20)); // the mail API takes a moment
      return { messageId: `msg_${sent.length}` };
    },
  };
  beforeAll(async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    server = await listen(createServer(createWebhookReceiver(idem, mailer, SECRET)));
  });
  afterAll(() => server.close());

  const event = (id: string): BillingEvent => ({
    id,
    type: "invoice.paid",
    data: { customer: "ada@example.com", invoice: `in_${id}` },
  });
  const deliver = (body: string, signature = sign(SECRET, body)) =>
    fetch(`${server.url}/webhooks/billing`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-signature": signature },
      body,
    });

  it("sends one email when the sender resends an event", async () => {
    const before = sent.length;
    const body = JSON.stringify(event("evt_1"));
    const first = await deliver(body);
    const resent = await deliver(body);
    expect([first.status, resent.status]).toEqual([200, 200]);
    expect(await resent.json()).toEqual(await first.json());
    expect(sent.slice(before)).toEqual(["ada@example.com: Receipt for invoice in_evt_1"]);
  });

  it("sends one email when the sender fires several copies at once", async () => {
    const before = sent.length;
    const body = JSON.stringify(event("evt_2"));
    const responses = await Promise.all(Array.from({ length: 5 }, () => deliver(body)));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const receipts = await Promise.all(responses.map((r) => r.json()));
    expect(new Set(receipts.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(sent.length).toBe(before + 1);
  });

  it("refuses a bad or missing signature, and a body changed after signing, without sending", async () => {
    const before = sent.length;
    const body = JSON.stringify(event("evt_3"));
    expect((await deliver(body, sign("wrong secret", body))).status).toBe(401);
    expect((await deliver(body, "")).status).toBe(401);
    const tampered = body.replace("ada@example.com", "eve@example.com");
    expect((await deliver(tampered, sign(SECRET, body))).status).toBe(401);
    expect(sent.length).toBe(before);
    expect((await deliver(body)).status).toBe(200);
    expect(sent.length).toBe(before + 1);
  });

  it("sends one email per distinct event", async () => {
    const before = sent.length;
    await deliver(JSON.stringify(event("evt_4")));
    await deliver(JSON.stringify(event("evt_5")));
    expect(sent.length).toBe(before + 2);
  });
});
