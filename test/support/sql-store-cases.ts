import { randomUUID } from "node:crypto";
import { expect } from "vitest";
import { StoreError, StoreTimeoutError } from "../../src/core/errors.js";
import type { ClaimOptions, Store } from "../../src/core/store.js";

// Cases the SQL stores' own tests share: each store's file brings the server-side setup (pools, a row lock), these
// check what the store does with it.

/** 100 claims of one id race over stores on one table (one per pool), five rounds: exactly one wins each round. */
export async function expectOneWinnerPerRace(stores: Store[], options: ClaimOptions): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const id = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => stores[i % stores.length]!.claim(id, "fp", options)),
    );
    expect(results.filter((result) => result.status === "claimed")).toHaveLength(1);
    expect(results.every((result) => result.status === "claimed" || result.record.fingerprint === "fp")).toBe(true);
  }
}

/** A claim that a row lock holds up fails with a `StoreTimeoutError` once the store's timeout (200 ms) is over. */
export async function expectTimeoutUnderLock(slow: Store, id: string, options: ClaimOptions): Promise<void> {
  const started = Date.now();
  await expect(slow.claim(id, "fp", options)).rejects.toThrow(StoreTimeoutError);
  expect(Date.now() - started).toBeLessThan(1000);
}

/** A store whose server does not answer fails its claim fast, with a `StoreError` that names the store. */
export async function expectUnreachableFailsFast(down: Store, options: ClaimOptions): Promise<void> {
  const started = Date.now();
  const error = await down.claim("id", "fp", options).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(StoreError);
  expect((error as Error).message).toMatch(new RegExp(`^\\[oncely\\] \\[${down.name}\\] claim failed: `));
  expect(Date.now() - started).toBeLessThan(2000);
  await down.close();
}
