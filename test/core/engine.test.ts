import { describe, expect, it } from "vitest";
import { parseIdempotencyKey } from "../../src/adapter/index.js";
import {
  createIdempotency,
  defaultFingerprint,
  deriveKey,
  FingerprintMismatchError,
  type IdempotencyEvent,
  InFlightError,
  isOncelyError,
  MemoryStore,
  type Store,
  type StoreError,
} from "../../src/index.js";
import { guardInput } from "../support/guard-input.js";
import { until } from "../support/until.js";

const input = guardInput;
const ok = (status = 201) => ({
  status,
  headers: [["content-type", "text/plain"]] as [string, string][],
  body: new TextEncoder().encode("done"),
});

/** The same store with some operations replaced: a fault in front of a real store, not a mock of one. */
function withFault(store: Store, fault: Partial<Store>): Store {
  return new Proxy(store, {
    get(target, name) {
      if (name in fault) return fault[name as keyof Store];
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("engine", () => {
  it("lets a retry take over a lapsed lease, and fences the old holder's late result out", async () => {
    let now = 1_700_000_000_000;
    const memory = new MemoryStore({ now: () => now });
    const events: IdempotencyEvent[] = [];
    // Renewals lost on the way, as for a holder stalled by a long GC pause or a partition.
    const store = withFault(memory, { renew: async () => true });
    const guard = createIdempotency({ store, lease: "30s", onEvent: (e) => events.push(e) }).route();

    const first = await guard.begin(input("k-takeover"));
    if (first.action !== "execute") throw new Error("first should execute");
    now += 31_000;
    const second = await guard.begin(input("k-takeover"));
    if (second.action !== "execute") throw new Error("second should take over");
    expect(second.context.recovered).toBe(true);
    expect(second.context.token).toBeGreaterThan(first.context.token);
    await second.finish({ ...ok(201), body: new TextEncoder().encode("second") });
    await first.finish({ ...ok(201), body: new TextEncoder().encode("first, late") });

    expect(events.map((e) => e.type)).toEqual(["recovered", "executed", "fenced"]);
    const replay = await guard.begin(input("k-takeover"));
    if (replay.action !== "respond") throw new Error("should replay");
    expect(new TextDecoder().decode(replay.response.body)).toBe("second");
  });

  it("answers 500 (nothing sent half-made) when onReplay returns something that is not a response", async () => {
    const guard = createIdempotency({ store: new MemoryStore(), logger: false }).route({
      onReplay: () => ({ status: 200, headers: [], body: "not bytes" }) as never,
    });
    const first = await guard.begin(input("k-bad-hook"));
    if (first.action !== "execute") throw new Error("first should execute");
    await first.finish(ok(201));
    const replay = await guard.begin(input("k-bad-hook"));
    if (replay.action !== "respond") throw new Error("should answer");
    expect(replay.response.status).toBe(500);
  });

  it("aborts the handler's signal when renewal finds the claim taken over", async () => {
    const memory = new MemoryStore();
    const store = withFault(memory, { renew: async () => false });
    const guard = createIdempotency({ store, lease: 60 }).route();
    const decision = await guard.begin(input("k-signal"));
    if (decision.action !== "execute") throw new Error("should execute");
    await new Promise((resolve) => decision.context.signal.addEventListener("abort", resolve));
    expect(decision.context.signal.aborted).toBe(true);
  });

  it("answers 503 with Retry-After within storeTimeout when the store hangs, and never runs the handler", async () => {
    const store = withFault(new MemoryStore(), { claim: () => new Promise(() => {}) });
    const events: IdempotencyEvent[] = [];
    const guard = createIdempotency({ store, storeTimeout: 50, onEvent: (e) => events.push(e) }).route();
    const started = Date.now();
    const decision = await guard.begin(input("k-hang"));
    expect(Date.now() - started).toBeLessThan(1000);
    if (decision.action !== "respond") throw new Error("should answer");
    expect(decision.response.status).toBe(503);
    expect(decision.response.headers).toContainEqual(["retry-after", "1"]);
    expect(JSON.parse(new TextDecoder().decode(decision.response.body)).code).toBe("store_timeout");
    expect(events[0]).toMatchObject({ type: "store-error" });
  });

  it("answers 503 when the store fails, and passes through with failOpen (emitting store-error)", async () => {
    const store = withFault(new MemoryStore(), {
      claim: async () => {
        throw new Error("ECONNREFUSED");
      },
    });
    const events: IdempotencyEvent[] = [];
    const idem = createIdempotency({ store, onEvent: (e) => events.push(e) });
    const closed = await idem.route().begin(input("k-down"));
    expect(closed.action === "respond" && closed.response.status).toBe(503);
    const open = await idem.route({ failOpen: true }).begin(input("k-down"));
    expect(open.action).toBe("pass");
    expect(events.map((e) => e.type)).toEqual(["store-error", "store-error"]);
    expect((events[0]!.error as StoreError).message).toContain("[oncely] [memory] claim failed: ECONNREFUSED");
  });

  it("lets a waiting duplicate take over when the first holder releases", async () => {
    const memory = new MemoryStore();
    const found: string[] = [];
    const store = withFault(memory, {
      claim: async (...args: Parameters<Store["claim"]>) => {
        const result = await memory.claim(...args);
        found.push(result.status);
        return result;
      },
    });
    const guard = createIdempotency({ store, onInFlight: "wait" }).route();
    const first = await guard.begin(input("k-wait"));
    if (first.action !== "execute") throw new Error("should execute");
    const waiting = guard.begin(input("k-wait"));
    // The duplicate is waiting once its claim has found the first one running.
    await until(() => found.includes("in-flight"), "the duplicate to find the key in flight");
    await first.abandon(new Error("handler failed"));
    const second = await waiting;
    expect(second.action).toBe("execute");
  });

  it("validates options at setup with a TypeError naming the option", () => {
    const store = new MemoryStore();
    expect(() => createIdempotency({ store, ttl: "forever" as "1h" })).toThrow(/`ttl`/);
    expect(() => createIdempotency({ store, onInFlight: "queue" as "wait" })).toThrow(/`onInFlight`/);
    expect(() => createIdempotency({ store, rateLimit: { max: 0, window: "1s" } })).toThrow(/`rateLimit`/);
    expect(() => createIdempotency({ store: {} as Store })).toThrow(/`store`/);
    expect(() => createIdempotency({ store, header: 42 as never })).toThrow(/`header`/);
    expect(() => createIdempotency({ store, header: "Idempotency Key" })).toThrow(/`header`/);
    expect(() => createIdempotency({ store, header: "" })).toThrow(/`header`/);
    expect(() => createIdempotency({ store, onReplay: "add headers" as never })).toThrow(/`onReplay`/);
    expect(() => createIdempotency({ store, expiryHeader: "Key Expires" })).toThrow(/`expiryHeader`/);
    expect(() => createIdempotency({ store, expiryHeader: 1 as never })).toThrow(/`expiryHeader`/);
    const idem = createIdempotency({ store });
    expect(() => idem.route({ lease: -1 })).toThrow(/`lease`/);
    expect(() => idem.route({ ttl: "1h", store } as never)).toThrow(/Unknown idempotency option `store`/);
  });

  it("refuses a misspelt option with the name it was probably meant to be", () => {
    const store = new MemoryStore();
    expect(() => createIdempotency({ store, requierd: true } as never)).toThrow(
      /Unknown idempotency option `requierd`; did you mean `required`\?/,
    );
    expect(() => createIdempotency({ store, fingerprintheaders: ["x"] } as never)).toThrow(
      /did you mean `fingerprintHeaders`/,
    );
    expect(() => createIdempotency({ store, banana: 1 } as never)).toThrow(/Unknown idempotency option `banana`$/);
  });
});

describe("idem.run", () => {
  it("runs work once per key and returns the stored JSON result on repeats", async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    let sent = 0;
    const send = () => idem.run("evt_1", async () => ({ messageId: `m${++sent}` }));
    expect(await send()).toEqual({ messageId: "m1" });
    expect(await send()).toEqual({ messageId: "m1" });
    expect(sent).toBe(1);
  });

  it("releases the key when the work throws, so a repeat runs it again", async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    let attempts = 0;
    const work = async () => {
      attempts += 1;
      if (attempts === 1) throw new Error("smtp down");
      return "sent";
    };
    await expect(idem.run("evt_2", work)).rejects.toThrow("smtp down");
    expect(await idem.run("evt_2", work)).toBe("sent");
    expect(attempts).toBe(2);
  });

  it("throws typed errors while the key is in flight and when the input differs", async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    let release!: () => void;
    let started = false;
    const running = idem.run(
      "evt_3",
      () =>
        new Promise<string>((r) => {
          started = true;
          release = () => r("x");
        }),
      { input: { a: 1 } },
    );
    await until(() => started, "the first run to start");
    const inFlight = await idem.run("evt_3", async () => "y", { input: { a: 1 } }).catch((e) => e);
    expect(inFlight).toBeInstanceOf(InFlightError);
    expect(isOncelyError(inFlight) && inFlight.status).toBe(409);
    release();
    await running;
    await expect(idem.run("evt_3", async () => "z", { input: { a: 2 } })).rejects.toBeInstanceOf(
      FingerprintMismatchError,
    );
    expect(await idem.run("evt_3", async () => "z", { input: { a: 1 } })).toBe("x");
  });

  it("applies each run's own options, the same ones again or others, and refuses a wrong one on every run", async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    let release!: () => void;
    const holding = idem.run("held", () => new Promise<string>((r) => (release = () => r("done"))));
    await until(() => release !== undefined, "the first run to start");
    // Waiting is per run: the same options twice wait, then the engine's default ("reject") answers at once.
    const waits = [1, 2].map(() => idem.run("held", async () => "again", { onInFlight: "wait", waitTimeout: "5s" }));
    await expect(idem.run("held", async () => "again")).rejects.toBeInstanceOf(InFlightError);
    await expect(idem.run("held", async () => "again", { onInFlight: "wait", waitTimeout: 50 })).rejects.toBeInstanceOf(
      InFlightError,
    );
    release();
    expect(await Promise.all([holding, ...waits])).toEqual(["done", "done", "done"]);
    for (let i = 0; i < 2; i++) {
      await expect(idem.run("other", async () => 1, { waitTimeout: "soon" as never })).rejects.toThrow(/waitTimeout/);
      await expect(idem.run("other", async () => 1, { wait: "5s" } as never)).rejects.toThrow(/Unknown/);
    }
  });

  it("keeps keys apart per scope", async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    expect(await idem.run("same", async () => "a", { scope: "tenant-a" })).toBe("a");
    expect(await idem.run("same", async () => "b", { scope: "tenant-b" })).toBe("b");
  });
});

describe("keys, fingerprints and derived keys", () => {
  it("parses sf-strings with escapes and refuses what is not a key", () => {
    expect(parseIdempotencyKey('"a\\"b\\\\c"')).toBe('a"b\\c');
    expect(parseIdempotencyKey("8e03978e-40d5-43e8-bc93-6894a57f9324")).toBe("8e03978e-40d5-43e8-bc93-6894a57f9324");
    expect(parseIdempotencyKey(["k1", "k1"])).toBe("k1");
    expect(parseIdempotencyKey("k1, k1")).toBe("k1");
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    for (const bad of ['""', '"a\\nb"', "a\u0001b", "k1, k2", "é"]) expect(() => parseIdempotencyKey(bad)).toThrow();
    expect(() => parseIdempotencyKey("x".repeat(256))).toThrow("Idempotency-Key is 256 characters; the limit is 255");
  });

  it("fingerprints JSON canonically and everything else byte for byte", () => {
    const base = { method: "POST", path: "/p", query: "b=2&a=1", raw: undefined };
    const json = { "content-type": "application/json" };
    const enc = (s: string) => new TextEncoder().encode(s);
    const a = defaultFingerprint({ ...base, headers: json, body: enc('{"x":{"b":1,"a":[1,2]},"y":null}') });
    const b = defaultFingerprint({
      ...base,
      query: "a=1&b=2",
      headers: json,
      body: enc('{ "y": null, "x": { "a": [1, 2], "b": 1 } }'),
    });
    const c = defaultFingerprint({ ...base, headers: json, body: enc('{"x":{"b":1,"a":[2,1]},"y":null}') });
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    const text = { "content-type": "text/plain" };
    expect(defaultFingerprint({ ...base, headers: text, body: enc("a b") })).not.toBe(
      defaultFingerprint({ ...base, headers: text, body: enc("a  b") }),
    );
    expect(defaultFingerprint({ ...base, headers: json, parsedBody: { b: 1, a: 2 }, body: undefined })).toBe(
      defaultFingerprint({ ...base, headers: json, body: enc('{"a":2,"b":1}') }),
    );
  });

  it("derives downstream keys per (scope, key, label)", () => {
    const k = deriveKey({ scope: "acct_1", key: "abc" }, "charge");
    expect(k).toBe(deriveKey({ scope: "acct_1", key: "abc" }, "charge"));
    expect(k).not.toBe(deriveKey({ scope: "acct_1", key: "abc" }, "email"));
    expect(k).not.toBe(deriveKey({ scope: "acct_2", key: "abc" }, "charge"));
    expect(k).not.toBe(deriveKey({ key: "abc" }, "charge"));
    expect(k.length).toBeLessThanOrEqual(255);
  });
});

describe("store round trips and encodings", () => {
  it("makes 2 store calls on a first execution and 1 on a replay", async () => {
    const calls: string[] = [];
    const memory = new MemoryStore();
    const counted = new Proxy(memory, {
      get(target, name) {
        const value = Reflect.get(target, name, target);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          calls.push(String(name));
          return value.apply(target, args);
        };
      },
    });
    const guard = createIdempotency({ store: counted }).route();
    const first = await guard.begin(input("k-trips"));
    if (first.action !== "execute") throw new Error("should execute");
    await first.finish(ok());
    expect(calls).toEqual(["claim", "complete"]);
    calls.length = 0;
    expect((await guard.begin(input("k-trips"))).action).toBe("respond");
    expect(calls).toEqual(["claim"]);
  });

  it("decodes a stored gzip body for a client that does not accept gzip", async () => {
    const { gzipSync } = await import("node:zlib");
    const guard = createIdempotency({ store: new MemoryStore() }).route();
    const first = await guard.begin(input("k-gzip"));
    if (first.action !== "execute") throw new Error("should execute");
    await first.finish({ status: 200, headers: [["content-encoding", "gzip"]], body: gzipSync("hello") });
    const gzipClient = await guard.begin({
      ...input("k-gzip"),
      headers: { ...input("k-gzip").headers, "accept-encoding": "gzip, br" },
    });
    const plainClient = await guard.begin(input("k-gzip"));
    if (gzipClient.action !== "respond" || plainClient.action !== "respond") throw new Error("should replay");
    expect(gzipClient.response.headers).toContainEqual(["content-encoding", "gzip"]);
    expect(new TextDecoder().decode(plainClient.response.body)).toBe("hello");
    expect(plainClient.response.headers.some(([name]) => name === "content-encoding")).toBe(false);
  });
});
