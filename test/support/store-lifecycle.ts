import { randomUUID } from "node:crypto";
import { expect } from "vitest";
import type { ClaimOptions, Store } from "../../src/core/store.js";

/**
 * One record's whole life on a store, each step checked: claim a new id, renew, complete, then a replay (a claim that
 * finds it completed). For tests that read the server's own counters around it.
 */
export async function runLifecycle(store: Store): Promise<void> {
  const options = { lease: 60_000, ttl: 60_000, meta: { key: "k" } };
  const id = randomUUID();
  const claim = await store.claim(id, "fp", options);
  if (claim.status !== "claimed") throw new Error(`expected a claim, got ${claim.status}`);
  expect(await store.renew(id, claim.token, 60_000)).toBe(true);
  const response = { status: 200, headers: [] as [string, string][], body: new Uint8Array([1]), kept: true };
  expect(await store.complete(id, claim.token, response, 60_000)).toBe(true);
  expect((await store.claim(id, "fp", options)).status).toBe("completed");
}

/** Claims `id` on `store` and returns the token; throws when the claim is not `claimed`. */
export async function claimToken(store: Store, id: string, options: ClaimOptions): Promise<number> {
  const claim = await store.claim(id, "fp", options);
  if (claim.status !== "claimed") throw new Error(`${id} not claimed`);
  return claim.token;
}
