import { describe, expect, it } from "vitest";
import { type InvoiceJob, invoiceWorker, type Mailer } from "../../examples/jobs/invoice-worker.js";
import { InProcessQueue, type Job } from "../../examples/jobs/queue.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";

/** A mailer that records every email it actually sends. */
function fakeMailer(options: { failFirst?: boolean } = {}) {
  const sent: { to: string; subject: string }[] = [];
  let calls = 0;
  const mailer: Mailer = {
    async send(to, subject) {
      calls++;
      if (options.failFirst && calls === 1) throw new Error("SMTP timeout");
      sent.push({ to, subject });
      return { messageId: `msg_${sent.length}` };
    },
  };
  return { mailer, sent };
}

const invoice = (n: number): InvoiceJob => ({ invoiceId: `inv_${n}`, customer: `c${n}@example.com` });

describe("example: queue consumer keyed by job id (idem.run)", () => {
  it("sends once when the worker dies after sending but before the ack, and the job is redelivered", async () => {
    const { mailer, sent } = fakeMailer();
    const sendInvoice = invoiceWorker(createIdempotency({ store: new MemoryStore() }), mailer);
    const queue = new InProcessQueue<InvoiceJob>();
    const deliveries: Job<InvoiceJob>[] = [];
    queue.publish("job-1", invoice(1));
    await queue.drain(async (job) => {
      deliveries.push({ ...job });
      await sendInvoice(job);
      if (job.attempt === 1) throw new Error("worker crashed before acking");
    });
    expect(deliveries.map((d) => d.attempt)).toEqual([1, 2]);
    expect(sent).toEqual([{ to: "c1@example.com", subject: "Invoice inv_1" }]);
  });

  it("sends once when the producer publishes the same job twice, and once per distinct job", async () => {
    const { mailer, sent } = fakeMailer();
    const sendInvoice = invoiceWorker(createIdempotency({ store: new MemoryStore() }), mailer);
    const queue = new InProcessQueue<InvoiceJob>();
    queue.publish("job-1", invoice(1));
    queue.publish("job-1", invoice(1));
    queue.publish("job-2", invoice(2));
    const results: unknown[] = [];
    await queue.drain(async (job) => results.push(await sendInvoice(job)));
    expect(sent.map((s) => s.subject)).toEqual(["Invoice inv_1", "Invoice inv_2"]);
    expect(results).toEqual([{ messageId: "msg_1" }, { messageId: "msg_1" }, { messageId: "msg_2" }]);
  });

  it("runs again when the work itself failed: the redelivery sends the email", async () => {
    const { mailer, sent } = fakeMailer({ failFirst: true });
    const sendInvoice = invoiceWorker(createIdempotency({ store: new MemoryStore() }), mailer);
    const queue = new InProcessQueue<InvoiceJob>();
    queue.publish("job-1", invoice(1));
    await queue.drain(sendInvoice);
    expect(sent).toHaveLength(1);
    expect(queue.dead).toEqual([]);
  });

  it("sends once when two workers get the same job at the same time", async () => {
    const { mailer, sent } = fakeMailer();
    const sendInvoice = invoiceWorker(createIdempotency({ store: new MemoryStore() }), mailer);
    const job = { id: "job-1", payload: invoice(1), attempt: 1 };
    const results = await Promise.all([sendInvoice(job), sendInvoice({ ...job }), sendInvoice({ ...job })]);
    expect(sent).toHaveLength(1);
    expect(new Set(results.map((r) => r.messageId))).toEqual(new Set(["msg_1"]));
  });
});
