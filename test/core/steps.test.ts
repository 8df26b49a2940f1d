import { describe, expect, it } from "vitest";
import { MAX_STEPS } from "../../src/core/steps.js";
import {
  ClaimLostError,
  createIdempotency,
  type IdempotencyEvent,
  MemoryStore,
  type RunContext,
  StepLimitError,
  StepMismatchError,
  type Store,
  TerminalError,
} from "../../src/index.js";

/** An engine on a memory store whose clock the test moves. */
function engine() {
  let now = 1_700_000_000_000;
  const store = new MemoryStore({ now: () => now });
  const events: IdempotencyEvent[] = [];
  const idem = createIdempotency({ store, lease: "30s", onEvent: (event) => events.push(event) });
  return { idem, store, events, advance: (ms: number) => (now += ms) };
}

class Crash extends Error {}

describe("steps in idem.run", () => {
  it("resumes a run at the step that failed: recorded steps return their results without running", async () => {
    const { idem } = engine();
    const ran: string[] = [];
    let failEmail = true;
    const work = async (step: RunContext) => {
      const hold = await step("reserve", () => {
        ran.push("reserve");
        return { hold: "h_1" };
      });
      const charge = await step("charge", (s) => {
        ran.push(`charge resumed=${s.resumed}`);
        return { charge: "ch_1", at: new Date(0) };
      });
      await step("email", (s) => {
        ran.push(`email resumed=${s.resumed}`);
        if (failEmail) throw new Crash("mail server down");
      });
      return { ...hold, ...charge };
    };
    await expect(idem.run("order-1", work)).rejects.toThrow(Crash);
    failEmail = false;
    const result = await idem.run("order-1", work);
    // Results are JSON copies, on the first run as on the retry: the Date is a string in both.
    expect(result).toEqual({ hold: "h_1", charge: "ch_1", at: "1970-01-01T00:00:00.000Z" });
    expect(ran).toEqual(["reserve", "charge resumed=false", "email resumed=false", "email resumed=true"]);
    // Completed: a further retry replays the stored result and runs nothing.
    expect(await idem.run("order-1", work)).toEqual(result);
    expect(ran).toHaveLength(4);
  });

  it("gives each step a downstream key: stable across retries, per step, per run, per tenant, never the key itself", async () => {
    const { idem } = engine();
    const keys: Record<string, string[]> = {};
    const work = (fail: boolean) => async (step: RunContext) => {
      for (const name of ["a", "b"]) {
        await step(name, (s) => {
          const seen = keys[`${step.scope ?? "-"}:${name}`] ?? [];
          seen.push(s.key);
          keys[`${step.scope ?? "-"}:${name}`] = seen;
          if (fail && name === "b") throw new Crash();
        });
      }
    };
    await expect(idem.run("order-key", work(true), { scope: "tenant-1" })).rejects.toThrow(Crash);
    await idem.run("order-key", work(false), { scope: "tenant-1" });
    await idem.run("order-key", work(false), { scope: "tenant-2" });
    const [t1a, t1b, t2a, t2b] = Object.values(keys);
    expect(t1b![0]).toBe(t1b![1]);
    const all = [t1a![0]!, t1b![0]!, t2a![0]!, t2b![0]!];
    expect(new Set(all).size).toBe(4);
    for (const key of all) {
      expect(key).not.toContain("order-key");
      expect(key.length).toBeLessThanOrEqual(255);
      expect(key).toMatch(/^oncely-step-[A-Za-z0-9_-]+$/);
    }
  });

  it("records a terminal error and gives it back on every retry, so the handler compensates once", async () => {
    const { idem } = engine();
    let charges = 0;
    let refunds = 0;
    const work = async (step: RunContext) => {
      await step("reserve", () => "held");
      try {
        await step("charge", () => {
          charges += 1;
          throw new TerminalError("card declined", { details: { reason: "insufficient_funds" } });
        });
      } catch (error) {
        if (!(error instanceof TerminalError)) throw error;
        await step("release-stock", () => {
          refunds += 1;
        });
        return { declined: error.message, details: error.details, replayed: error.replayed };
      }
      return { declined: false };
    };
    const first = await idem.run("order-2", work);
    expect(first).toEqual({ declined: "card declined", details: { reason: "insufficient_funds" }, replayed: false });
    expect(await idem.run("order-2", work)).toEqual(first);
    // Had the compensation thrown, the retry would get the recorded error back (replayed) without charging again.
    const again = async (step: RunContext) => {
      await step("reserve", () => "held");
      await step("charge", () => {
        charges += 1;
      });
    };
    await expect(
      idem.run("order-3", async (step) => {
        await step("reserve", () => "held");
        await step("charge", () => {
          throw new TerminalError("card declined");
        });
      }),
    ).rejects.toThrow(TerminalError);
    const replayed = await idem.run("order-3", again).catch((error: unknown) => error);
    expect(replayed).toBeInstanceOf(TerminalError);
    expect((replayed as TerminalError).replayed).toBe(true);
    expect((replayed as TerminalError).message).toBe("card declined");
    expect(charges).toBe(1);
    expect(refunds).toBe(1);
  });

  it("refuses a retry whose steps differ from the recorded run, never handing one step another's result", async () => {
    const { idem } = engine();
    await expect(
      idem.run("order-4", async (step) => {
        await step("reserve", () => 1);
        await step("charge", () => 2);
        throw new Crash();
      }),
    ).rejects.toThrow(Crash);
    const renamed = idem.run("order-4", async (step) => {
      await step("reserve", () => 1);
      await step("charge-v2", () => 3);
    });
    await expect(renamed).rejects.toThrow(StepMismatchError);
    const reordered = idem.run("order-4", async (step) => {
      await step("charge", () => 2);
    });
    await expect(reordered).rejects.toMatchObject({ code: "step_mismatch" });
    // The unchanged handler still resumes.
    expect(
      await idem.run("order-4", async (step) => {
        const a = await step("reserve", () => -1);
        const b = await step("charge", () => -2);
        return a + b;
      }),
    ).toBe(3);
  });

  it("refuses a step name used twice in one run, and names outside the allowed characters", async () => {
    const { idem } = engine();
    const twice = idem.run("order-5", async (step) => {
      await step("a", () => 1);
      await step("a", () => 2);
    });
    await expect(twice).rejects.toThrow(/already used in this run/);
    await expect(idem.run("order-6", (step) => step("no spaces", () => 1))).rejects.toThrow(TypeError);
    await expect(idem.run("order-7", (step) => step("", () => 1))).rejects.toThrow(TypeError);
  });

  it("bounds the steps of a run and the bytes of their results", async () => {
    const { idem } = engine();
    const many = idem.run("order-8", async (step) => {
      for (let i = 0; i <= MAX_STEPS; i++) await step(`s${i}`, () => i);
    });
    await expect(many).rejects.toThrow(StepLimitError);
    const big = idem.run("order-9", (step) => step("big", () => "x".repeat(300 * 1024)));
    await expect(big).rejects.toMatchObject({ code: "step_limit" });
  });

  it("lets a holder whose claim was taken over record nothing more", async () => {
    const { idem, store, advance } = engine();
    let release!: () => void;
    const paused = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reached!: () => void;
    const atPause = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const slow = idem.run("order-10", async (step) => {
      await step("a", () => 1);
      reached();
      await paused;
      await step("b", () => "from the old holder");
    });
    await atPause;
    advance(31_000);
    const taken = await idem.run("order-10", async (step) => {
      const a = await step("a", () => -1);
      const b = await step("b", (s) => `new holder, resumed=${s.resumed}`);
      return { a, b };
    });
    expect(taken).toEqual({ a: 1, b: "new holder, resumed=false" });
    release();
    await expect(slow).rejects.toThrow(ClaimLostError);
    const record = await store.get((await store.list()).records[0]!.id);
    expect(record?.steps?.map((step) => [step.name, step.value])).toEqual([
      ["a", "1"],
      ["b", '"new holder, resumed=false"'],
    ]);
  });

  it("explains that a store without steps cannot record them", async () => {
    const memory = new MemoryStore();
    const plain: Store = {
      name: "plain",
      claim: (id, fingerprint, options) => memory.claim(id, fingerprint, options),
      renew: (id, token, lease) => memory.renew(id, token, lease),
      complete: (id, token, response, ttl) => memory.complete(id, token, response, ttl),
      release: (id, token) => memory.release(id, token),
      get: (id) => memory.get(id),
      delete: (id) => memory.delete(id),
      list: (options) => memory.list(options),
      purgeExpired: (options) => memory.purgeExpired(options),
      close: () => memory.close(),
    };
    const idem = createIdempotency({ store: plain });
    await expect(idem.run("k", (step) => step("a", () => 1))).rejects.toThrow(/does not record steps/);
    expect(await idem.run("k2", () => "no steps, fine")).toBe("no steps, fine");
  });
});

describe("idem.define, runs by name, and recover()", () => {
  it("stores the input with the run and drives a released run to completion from it", async () => {
    const { idem, store, events } = engine();
    let emailFails = true;
    const sent: string[] = [];
    idem.define("checkout", async (order: { id: string; qty: number }, step) => {
      const hold = await step("reserve", () => ({ qty: order.qty }));
      await step("email", (s) => {
        if (emailFails) throw new Crash("mail down");
        sent.push(s.key);
      });
      return { order: order.id, held: hold.qty };
    });
    await expect(idem.run("order-11", "checkout", { id: "o_11", qty: 2 })).rejects.toThrow(Crash);
    emailFails = false;
    expect(await idem.recover()).toEqual({ completed: 1, failed: 0, skipped: 0 });
    expect(sent).toHaveLength(1);
    // The client's retry, whenever it comes, gets the stored result.
    expect(await idem.run("order-11", "checkout", { id: "o_11", qty: 2 })).toEqual({ order: "o_11", held: 2 });
    expect(sent).toHaveLength(1);
    // Another input under the same key is a different request.
    await expect(idem.run("order-11", "checkout", { id: "o_11", qty: 3 })).rejects.toMatchObject({
      code: "fingerprint_mismatch",
    });
    const record = (await store.list()).records[0]!;
    expect(record.work).toEqual({ name: "checkout", input: '{"id":"o_11","qty":2}' });
    expect(events.map((event) => event.type)).toContain("executed");
  });

  it("takes over a run whose holder died (lease lapsed) and leaves live and stepless runs alone", async () => {
    const { idem, store, advance } = engine();
    let runs = 0;
    idem.define("job", async (input: { n: number }, step) => {
      runs += 1;
      const a = await step("a", () => input.n);
      const b = await step("b", () => a * 10);
      return b;
    });
    // A holder that recorded step "a" and died: its claim is in the store with nobody renewing it.
    const dead = await store.claim("dead-run", "fp-dead", {
      lease: 30_000,
      ttl: 86_400_000,
      meta: { key: "job-1", path: "job" },
      work: { name: "job", input: '{"n":4}' },
    });
    if (dead.status !== "claimed") throw new Error("not claimed");
    await store.saveStep("dead-run", dead.token, { name: "a", seq: 0, state: "done", value: "4" });
    // A run whose holder is alive (its lease runs long) and a run with no steps yet are left alone.
    const live = await store.claim("live-run", "fp", {
      lease: 120_000,
      ttl: 86_400_000,
      meta: { key: "job-2" },
      work: { name: "job", input: '{"n":1}' },
    });
    if (live.status !== "claimed") throw new Error("not claimed");
    await store.saveStep("live-run", live.token, { name: "a", seq: 0, state: "started" });
    await store.claim("stepless", "fp", {
      lease: 30_000,
      ttl: 86_400_000,
      meta: { key: "job-3" },
      work: { name: "job", input: "{}" },
    });
    expect(await idem.recover()).toEqual({ completed: 0, failed: 0, skipped: 2 });
    advance(31_000);
    expect(await idem.recover()).toEqual({ completed: 1, failed: 0, skipped: 1 });
    expect((await store.get("live-run"))?.state).toBe("in-flight");
    expect((await store.get("stepless"))?.state).toBe("in-flight");
    expect(runs).toBe(1);
    const record = await store.get("dead-run");
    expect(record?.state).toBe("completed");
    expect(new TextDecoder().decode(record?.response?.body)).toBe("40");
  });

  it("refuses an unknown handler name and a second definition of one", () => {
    const { idem } = engine();
    expect(() => idem.run("k", "nobody", {})).toThrow(/No handler is defined as "nobody"/);
    idem.define("x", () => 1);
    expect(() => idem.define("x", () => 2)).toThrow(/already defined/);
  });
});
