import { describe, expect, it } from "vitest";
import { LeaseRenewals } from "../../src/core/lease-renewals.js";

/** Resolves once `condition` holds, checking after each turn of the event loop. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

describe("LeaseRenewals", () => {
  it("renews every claim held on its interval, and stops renewing a claim once it is deleted", async () => {
    const renewals = new LeaseRenewals();
    const counts = { a: 0, b: 0, c: 0 };
    const claim = (name: keyof typeof counts) => ({ renew: () => void counts[name]++ });
    const [a, b, c] = [claim("a"), claim("b"), claim("c")];
    renewals.add(a, 5);
    renewals.add(b, 5);
    renewals.add(c, 7);
    await until(() => counts.a >= 2 && counts.b >= 2 && counts.c >= 2);
    renewals.delete(a, 5);
    const atDelete = counts.a;
    await until(() => counts.b >= atDelete + 3);
    expect(counts.a).toBe(atDelete);
    renewals.delete(b, 5);
    renewals.delete(c, 7);
  });

  it("renews a claim added after every claim was deleted", async () => {
    const renewals = new LeaseRenewals();
    let first = 0;
    const claim = { renew: () => void first++ };
    renewals.add(claim, 3);
    await until(() => first >= 1);
    renewals.delete(claim, 3);
    let second = 0;
    renewals.add({ renew: () => void second++ }, 3);
    await until(() => second >= 2);
    expect(second).toBeGreaterThanOrEqual(2);
  });
});
