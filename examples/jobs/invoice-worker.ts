import type { Idempotency } from "../../src/index.js";
import type { Job } from "./queue.js";

export interface InvoiceJob {
  invoiceId: string;
  customer: string;
}

export interface Mailer {
  send(to: string, subject: string): Promise<{ messageId: string }>;
}

/**
 * A worker that emails each invoice once per job id, however often the queue delivers the job: `idem.run` claims the
 * job id, runs the work once and stores its result, and a redelivery gets that result back without sending again.
 * Work that throws releases the id, so the redelivery tries again. A copy delivered to a second worker while the
 * first still runs waits for it (`onInFlight: "wait"`) rather than failing.
 */
export function invoiceWorker(idem: Idempotency, mailer: Mailer) {
  return async function sendInvoice(job: Job<InvoiceJob>): Promise<{ messageId: string }> {
    const { invoiceId, customer } = job.payload;
    return idem.run(job.id, () => mailer.send(customer, `Invoice ${invoiceId}`), {
      name: "send-invoice",
      input: job.payload, // the same job id with another payload is a bug upstream: it throws instead of replaying
      onInFlight: "wait",
    });
  };
}
