// The memory store answers the engine's claims in the caller's turn (src/core/claim-now.ts). These tests hold that
// way to the same decisions as `claim`, and check that nothing that replaces `claim` is ever bypassed by it.
import { describe, expect, it, vi } from "vitest";
import { claimNow } from "../../src/core/claim-now.js";
import type { ClaimOptions, ClaimResult } from "../../src/core/store.js";
import { createIdempotency, type IdempotencyEvent, MemoryStore, type Store } from "../../src/index.js";
import { guardInput } from "../support/guard-input.js";

const input = guardInput;
const ok = () => ({ status: 201, headers: [] as [string, string][], body: new TextEncoder().encode("done") });

/** Runs one request through a route: executes (storing `ok()`) or answers; the status either way. */
async function send(store: Store, key: string, body?: string, events?: IdempotencyEvent[]): Promise<number> {
  const guard = createIdempotency({ store, onEvent: (event) => events?.push(event) }).route();
  const decision = await guard.begin(input(key, body));
  if (decision.action === "execute") {
    await decision.finish(ok());
    return 201;
  }
  if (decision.action === "respond") return decision.response.status;
  throw new Error(`unexpected ${decision.action}`);
}

describe("claims answered in the caller's turn", () => {
  it("decides a replay, a mismatch, an in-flight key and a full store as claim does", async () => {
    const store = new MemoryStore({ maxEntries: 2 });
    const events: IdempotencyEvent[] = [];
    expect(await send(store, "a", undefined, events)).toBe(201);
    expect(await send(store, "a", undefined, events)).toBe(201);
    expect(events.at(-1)).toMatchObject({ type: "replayed", status: 201 });
    expect(events.at(-1)!.storeDuration).toBeGreaterThanOrEqual(0);
    expect(await send(store, "a", '{"a":2}')).toBe(422);

    const idem = createIdempotency({ store });
    const held = await idem.route().begin(input("b"));
    expect(held.action).toBe("execute");
    expect(await send(store, "b")).toBe(409);
    expect(await send(store, "c")).toBe(503);
    if (held.action === "execute") await held.finish(ok());
  });

  it("waits for a holder with onInFlight: wait, and replays what it stored", async () => {
    const store = new MemoryStore();
    const idem = createIdempotency({ store });
    const held = await idem.route().begin(input("w"));
    if (held.action !== "execute") throw new Error("should execute");
    const waiting = idem.route({ onInFlight: "wait", waitTimeout: 5_000 }).begin(input("w"));
    setTimeout(() => void held.finish(ok()), 30);
    const waited = await waiting;
    expect(waited.action === "respond" && waited.response.headers).toContainEqual(["idempotent-replayed", "true"]);
  });

  it("answers idem.run's replay and refusals as before", async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    let runs = 0;
    const work = async () => ({ n: ++runs });
    expect(await idem.run("r", work, { input: { x: 1 } })).toEqual({ n: 1 });
    expect(await idem.run("r", work, { input: { x: 1 } })).toEqual({ n: 1 });
    await expect(idem.run("r", work, { input: { x: 2 } })).rejects.toMatchObject({ code: "fingerprint_mismatch" });
    expect(runs).toBe(1);
  });

  it("turns a synchronous failure of the store into a 503 (store-error), and a rejection of idem.run", async () => {
    class Failing extends MemoryStore {
      override [claimNow](): ClaimResult {
        throw new Error("the disk is on fire");
      }
    }
    const events: IdempotencyEvent[] = [];
    expect(await send(new Failing(), "f", undefined, events)).toBe(503);
    expect(events.at(-1)).toMatchObject({ type: "store-error" });
    const idem = createIdempotency({ store: new Failing(), logger: false });
    await expect(idem.run("f", () => 1)).rejects.toMatchObject({ code: "store_unavailable" });
    expect((await idem.route({ failOpen: true }).begin(input("f"))).action).toBe("pass");
    expect(await idem.run("f", () => 1, { failOpen: true })).toBe(1);
  });

  it("keeps a replay whole when onEvent, now run in the caller's turn, claims the same key again and throws", async () => {
    const store = new MemoryStore();
    const body = Uint8Array.from({ length: 5_000 }, (_, i) => i & 255);
    const nested: Promise<unknown>[] = [];
    let depth = 0;
    const idem = createIdempotency({
      store,
      logger: false,
      onEvent: (event) => {
        if (event.type !== "replayed" || event.route === "run" || depth > 0) return;
        depth += 1;
        try {
          nested.push(
            guard.begin(input(event.key!)),
            idem.run("r", () => "again"),
          );
        } finally {
          depth -= 1;
        }
        throw new Error("a listener that fails");
      },
    });
    const guard = idem.route();
    const first = await guard.begin(input("e"));
    if (first.action !== "execute") throw new Error("should execute");
    await first.finish({ status: 201, headers: [], body });
    expect(await idem.run("r", () => "once")).toBe("once");

    const replayed = await guard.begin(input("e"));
    expect(replayed.action === "respond" && Buffer.compare(replayed.response.body, body)).toBe(0);
    expect(await idem.run("r", () => "again")).toBe("once");
    const [nestedReplay, nestedRun, ...more] = await Promise.all(nested);
    const decision = nestedReplay as Awaited<ReturnType<typeof guard.begin>>;
    expect(decision.action === "respond" && Buffer.compare(decision.response.body, body)).toBe(0);
    expect(nestedRun).toBe("once");
    expect(more).toEqual([]);
  });
});

describe("nothing that replaces claim is bypassed", () => {
  it("calls a subclass's claim", async () => {
    const seen: string[] = [];
    class Logged extends MemoryStore {
      override async claim(id: string, fingerprint: string, options: ClaimOptions): Promise<ClaimResult> {
        seen.push(id);
        return super.claim(id, fingerprint, options);
      }
    }
    const store = new Logged();
    expect(await send(store, "s")).toBe(201);
    expect(await send(store, "s")).toBe(201);
    expect(seen).toHaveLength(2);
  });

  it("calls the claim of a Proxy around the store", async () => {
    const memory = new MemoryStore();
    let proxied = 0;
    const proxy = new Proxy(memory, {
      get(target, name) {
        const value = Reflect.get(target, name, target);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          if (name === "claim") proxied += 1;
          return value.apply(target, args);
        };
      },
    });
    expect(await send(proxy, "p")).toBe(201);
    expect(proxied).toBe(1);
  });

  it("calls a claim replaced on the instance", async () => {
    const store = new MemoryStore();
    const claim = store.claim.bind(store);
    let calls = 0;
    store.claim = (id, fingerprint, options) => {
      calls += 1;
      return claim(id, fingerprint, options);
    };
    expect(await send(store, "i")).toBe(201);
    expect(calls).toBe(1);
  });

  it("calls a spy on claim, which copies the method's own properties, the mark among them", async () => {
    const store = new MemoryStore();
    const spy = vi.spyOn(store, "claim");
    const idem = createIdempotency({ store, logger: false });
    expect(await idem.run("v", () => 1)).toBe(1);
    expect(await idem.run("v", () => 2)).toBe(1);
    expect(spy).toHaveBeenCalledTimes(2);
    spy.mockRejectedValueOnce(new Error("injected"));
    await expect(idem.run("v", () => 3)).rejects.toMatchObject({ code: "store_unavailable" });
  });

  it("calls a spy on MemoryStore.prototype.claim", async () => {
    const spy = vi.spyOn(MemoryStore.prototype, "claim");
    try {
      expect(await send(new MemoryStore(), "v")).toBe(201);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });
});
