import type { ClaimOptions, ClaimResult, StepRecord, StepStore, Store, StoredResponse } from "../core/store.js";
import type { TestApi } from "./test-api.js";

/** What the step and stream cases need from the store suite they run inside. */
export interface StepSuiteContext {
  test: TestApi;
  store: () => Store;
  lease: number;
  ttl: number;
  /** Lets leases lapse or records expire: moves an injected clock, or sleeps through real time. */
  pass: (ms: number) => Promise<void>;
  slack: number;
}

/**
 * The conformance cases of steps (`saveStep`, run ids, stored work): fencing, first result wins, atomic merges of
 * concurrent steps, and what takeovers, releases and expiry keep or reset.
 */
export function describeStepCases(context: StepSuiteContext): void {
  const { describe, it, expect } = context.test;
  const { lease, ttl, pass, slack } = context;
  const store = () => context.store() as StepStore;
  const id = () => `steps-${crypto.randomUUID()}`;
  const options = (extra: Partial<ClaimOptions> = {}): ClaimOptions => ({
    lease,
    ttl,
    meta: { key: "k", path: "checkout" },
    runId: crypto.randomUUID(),
    ...extra,
  });
  const claimed = (result: ClaimResult) => {
    expect(result.status).toBe("claimed");
    if (result.status !== "claimed") throw new Error("unreachable");
    return result;
  };
  const response: StoredResponse = { status: 200, headers: [], body: new Uint8Array([1]), kept: true };
  const done = (name: string, seq: number, value?: string): StepRecord => ({
    name,
    seq,
    state: "done",
    ...(value === undefined ? {} : { value }),
  });

  describe("steps", () => {
    it("gives a new record the run id it is offered, and no steps", async () => {
      const key = id();
      const offered = options();
      const first = claimed(await store().claim(key, "fp", offered));
      expect(first.runId).toBe(offered.runId);
      expect(first.steps ?? []).toEqual([]);
      expect((await store().get(key))?.runId).toBe(offered.runId);
    });

    it("records steps fenced by the token, and hands them to the next holder in order, byte for byte", async () => {
      const key = id();
      const first = claimed(await store().claim(key, "fp", options()));
      const big = JSON.stringify({ text: 'é€😀\u0000"\\'.repeat(2_000), n: [1, 2.5, null] });
      expect(await store().saveStep(key, first.token, { name: "reserve", seq: 0, state: "started" })).toBe(true);
      expect(await store().saveStep(key, first.token, done("reserve", 0, big))).toBe(true);
      expect(await store().saveStep(key, first.token, done("charge.v2:x-1", 1))).toBe(true);
      expect(await store().saveStep(key, first.token, { name: "email", seq: 2, state: "started" })).toBe(true);
      expect(await store().release(key, first.token)).toBe(true);
      const second = claimed(await store().claim(key, "fp", options()));
      expect(second.runId).toBe(first.runId);
      expect(second.steps).toEqual([
        done("reserve", 0, big),
        done("charge.v2:x-1", 1),
        { name: "email", seq: 2, state: "started" },
      ]);
      expect((await store().get(key))?.steps).toEqual(second.steps);
    });

    it("never replaces a done or failed step: the first result wins", async () => {
      const key = id();
      const { token } = claimed(await store().claim(key, "fp", options()));
      expect(await store().saveStep(key, token, done("a", 0, '"first"'))).toBe(true);
      expect(await store().saveStep(key, token, done("a", 0, '"second"'))).toBe(true);
      expect(await store().saveStep(key, token, { name: "a", seq: 0, state: "started" })).toBe(true);
      const failed: StepRecord = { name: "b", seq: 1, state: "failed", value: '{"message":"declined"}' };
      expect(await store().saveStep(key, token, failed)).toBe(true);
      expect(await store().saveStep(key, token, done("b", 1, '"late"'))).toBe(true);
      expect((await store().get(key))?.steps).toEqual([done("a", 0, '"first"'), failed]);
    });

    it("refuses steps from a token that no longer holds the claim, and changes nothing", async () => {
      const key = id();
      const first = claimed(await store().claim(key, "fp", options()));
      expect(await store().saveStep(key, first.token, done("a", 0, "1"))).toBe(true);
      await pass(lease + slack);
      const second = claimed(await store().claim(key, "fp", options()));
      expect(second.recovered).toBe(true);
      expect(second.runId).toBe(first.runId);
      expect(second.steps).toEqual([done("a", 0, "1")]);
      expect(await store().saveStep(key, first.token, done("b", 1, "2"))).toBe(false);
      expect(await store().saveStep(key, second.token, done("b", 1, "3"))).toBe(true);
      expect(await store().complete(key, second.token, response, ttl)).toBe(true);
      expect(await store().saveStep(key, second.token, done("c", 2, "4"))).toBe(false);
      expect((await store().get(key))?.steps).toEqual([done("a", 0, "1"), done("b", 1, "3")]);
      const released = id();
      const holder = claimed(await store().claim(released, "fp", options()));
      expect(await store().release(released, holder.token)).toBe(true);
      expect(await store().saveStep(released, holder.token, done("a", 0, "1"))).toBe(false);
      expect(await store().saveStep(id(), 1, done("a", 0, "1"))).toBe(false);
    });

    it("keeps every step when one holder records many at once (no lost update)", async () => {
      const key = id();
      const { token } = claimed(await store().claim(key, "fp", options()));
      const steps = Array.from({ length: 20 }, (_, seq) => done(`step-${seq}`, seq, JSON.stringify({ seq })));
      const results = await Promise.all(steps.map((step) => store().saveStep(key, token, step)));
      expect(results.every(Boolean)).toBe(true);
      expect((await store().get(key))?.steps).toEqual(steps);
    });

    it("keeps the stored work of the first claim, and starts an expired record afresh with a new run id", async () => {
      const key = id();
      const work = { name: "checkout", input: JSON.stringify({ sku: "é", qty: 2 }) };
      const first = claimed(await store().claim(key, "fp", options({ work, ttl: lease })));
      expect(await store().saveStep(key, first.token, done("a", 0, "1"))).toBe(true);
      expect(await store().release(key, first.token)).toBe(true);
      const again = claimed(await store().claim(key, "fp", options({ work: { name: "other", input: "null" } })));
      expect(again.runId).toBe(first.runId);
      expect((await store().get(key))?.work).toEqual(work);
      expect(await store().release(key, again.token)).toBe(true);
      await pass(ttl + slack);
      const offered = options();
      const fresh = claimed(await store().claim(key, "fp", offered));
      expect(fresh.runId).toBe(offered.runId);
      expect(fresh.steps ?? []).toEqual([]);
      const record = await store().get(key);
      expect(record?.steps ?? []).toEqual([]);
      expect(record?.work).toBeUndefined();
    });
  });
}
