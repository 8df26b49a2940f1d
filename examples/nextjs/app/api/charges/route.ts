// In your app: import { withIdempotency } from "oncely/fetch";
import { withIdempotency } from "../../../../../src/adapters/fetch/index.js";
import { createCharge } from "../../../lib/charges.js";
import { idem } from "../../../lib/idempotency.js";

// The Node.js runtime (Next.js's default): the Redis store's driver needs Node's sockets. The engine and oncely/fetch
// also run on the Edge runtime (docs/runtimes.md), with a store reachable from there.
export const runtime = "nodejs";

/** POST /api/charges with an Idempotency-Key: charged once per key, every retry gets the stored response. */
export const POST = withIdempotency(
  idem,
  async (request) => {
    const { amount, currency = "eur" } = (await request.json()) as { amount?: unknown; currency?: string };
    if (!Number.isInteger(amount) || (amount as number) <= 0) {
      return Response.json({ error: "amount must be a positive integer (minor units)" }, { status: 400 });
    }
    return Response.json(await createCharge(amount as number, currency), { status: 201 });
  },
  { required: true },
);
