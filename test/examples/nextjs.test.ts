import { describe, expect, it } from "vitest";
import { POST } from "../../examples/nextjs/app/api/charges/route.js";
import { charges } from "../../examples/nextjs/lib/charges.js";

// Next.js calls a route's POST with a web Request; so does this test (Next.js itself is not needed for that).
const charge = (key: string | undefined, body: unknown, account = "acct_1") =>
  POST(
    new Request("http://localhost:3000/api/charges", {
      method: "POST",
      headers: { "content-type": "application/json", "x-account": account, ...(key ? { "idempotency-key": key } : {}) },
      body: JSON.stringify(body),
    }),
  );

describe("example: Next.js App Router route (app/api/charges/route.ts)", () => {
  it("charges once per key; the retry gets the stored response", async () => {
    const before = charges.length;
    const first = await charge("order-1", { amount: 1000 });
    expect(first.status).toBe(201);
    const retry = await charge("order-1", { amount: 1000 });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.json()).toEqual(await first.json());
    expect(charges.length).toBe(before + 1);
  });

  it("charges once for concurrent duplicates; another body gets 422, no key 400", async () => {
    const before = charges.length;
    const responses = await Promise.all(Array.from({ length: 5 }, () => charge("order-2", { amount: 500 })));
    // Each duplicate either found the first running (409, retry later) or finished (the stored 201).
    for (const response of responses) expect([201, 409]).toContain(response.status);
    const created = responses.filter((r) => r.status === 201);
    expect(new Set(await Promise.all(created.map((r) => r.text()))).size).toBe(1);
    expect((await charge("order-2", { amount: 999 })).status).toBe(422);
    expect((await charge(undefined, { amount: 1 })).status).toBe(400);
    expect(charges.length).toBe(before + 1);
  });

  it("keeps accounts apart: the same key in another account is another charge", async () => {
    const before = charges.length;
    await charge("order-3", { amount: 100 }, "acct_1");
    const other = await charge("order-3", { amount: 100 }, "acct_2");
    expect(other.headers.get("idempotent-replayed")).toBeNull();
    expect(charges.length).toBe(before + 2);
  });
});
