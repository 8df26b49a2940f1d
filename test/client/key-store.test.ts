import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ClientOptions,
  createClient,
  IdempotencyRequestError,
  idempotencyInfo,
  memoryKeyStore,
  RetriesExhaustedError,
  type StorageLike,
  storageKeyStore,
} from "../../src/client/index.js";
import { startServer, type TestServer } from "./server.js";

/** A `Storage` (the localStorage interface) over a Map, standing in for the browser's. */
class MapStorage implements Storage {
  readonly items = new Map<string, string>();
  get length() {
    return this.items.size;
  }
  clear() {
    this.items.clear();
  }
  getItem(name: string) {
    return this.items.get(name) ?? null;
  }
  key(index: number) {
    return [...this.items.keys()][index] ?? null;
  }
  removeItem(name: string) {
    this.items.delete(name);
  }
  setItem(name: string, value: string) {
    this.items.set(name, String(value));
  }
}

/** React Native's AsyncStorage shape: the same three methods, returning promises. */
function asyncStorage(): StorageLike & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    getItem: async (name) => items.get(name) ?? null,
    setItem: async (name, value) => void items.set(name, value),
    removeItem: async (name) => void items.delete(name),
  };
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const fast = (options: ClientOptions = {}) => createClient({ backoff: { base: 5, cap: 20 }, ...options });
const order = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

describe("storageKeyStore", () => {
  it("keeps entries under the prefix, and forgets them after maxAge", async () => {
    const storage = new MapStorage();
    let now = 1_000;
    const store = storageKeyStore(storage, { prefix: "app:", maxAge: "1h", now: () => now });
    await store.set("checkout", "k1");
    expect(JSON.parse(storage.getItem("app:checkout")!)).toEqual({ key: "k1", at: 1_000 });
    expect(await store.get("checkout")).toBe("k1");
    now += 3_600_000;
    expect(await store.get("checkout")).toBe("k1");
    now += 1;
    expect(await store.get("checkout")).toBeUndefined();
    expect(storage.length).toBe(0);
  });

  it("ignores (and removes) an entry it cannot read", async () => {
    const storage = new MapStorage();
    storage.setItem("oncely:key:checkout", "not json");
    const store = storageKeyStore(storage);
    expect(await store.get("checkout")).toBeUndefined();
    expect(storage.length).toBe(0);
  });

  it("works over an AsyncStorage-shaped store", async () => {
    const storage = asyncStorage();
    const store = storageKeyStore(storage);
    await store.set("a", "k");
    expect(await store.get("a")).toBe("k");
    await store.delete("a");
    expect(storage.items.size).toBe(0);
  });

  it("says what is missing when there is no storage here", () => {
    expect(() => storageKeyStore()).toThrow(/localStorage/);
    expect(() => storageKeyStore(new MapStorage(), { maxAge: "soon" as never })).toThrow(/maxAge/);
  });
});

describe("a pending intent across a reload", () => {
  it("keeps the key of an unanswered intent for the next client instance, and clears it after the final answer", async () => {
    const storage = new MapStorage();
    const before = server.effects("charges");
    const seen = server.arrivals("/charges").length;
    server.dropAnswers(1);

    // The page sends the order; the effect happens but the answer is lost, and the page reloads before retrying.
    const firstPage = fast({ keyStore: storageKeyStore(storage), retries: 0 });
    const lost = await firstPage(`${server.url}/charges`, { ...order({ cart: 42 }), intent: "checkout:42" }).catch(
      (error: unknown) => error,
    );
    expect(lost).toBeInstanceOf(RetriesExhaustedError);
    const key = server.arrivals("/charges")[seen]!.key!;
    expect(JSON.parse(storage.getItem("oncely:key:checkout:42")!).key).toBe(key);

    // After the reload: a new client over the same storage sends the same key and gets the stored answer.
    const secondPage = fast({ keyStore: storageKeyStore(storage) });
    const response = await secondPage(`${server.url}/charges`, { ...order({ cart: 42 }), intent: "checkout:42" });
    expect(response.status).toBe(201);
    expect(idempotencyInfo(response)).toEqual({ idempotencyKey: key, replayed: true, attempts: 1 });
    expect(server.effects("charges")).toBe(before + 1);
    expect(storage.getItem("oncely:key:checkout:42")).toBeNull();

    // The intent got its final answer: the next order under the same name is a new intent, with a new key.
    const next = await secondPage(`${server.url}/charges`, { ...order({ cart: 42 }), intent: "checkout:42" });
    expect(idempotencyInfo(next)?.replayed).toBe(false);
    expect(idempotencyInfo(next)?.idempotencyKey).not.toBe(key);
    expect(server.effects("charges")).toBe(before + 2);
  });

  it("keeps the key through an AsyncStorage restart too", async () => {
    const storage = asyncStorage();
    server.script("app-restart", "drop");
    await fast({ keyStore: storageKeyStore(storage), retries: 0 })(`${server.url}/script/app-restart`, {
      method: "POST",
      intent: "pay",
    }).catch(() => {});
    const restarted = await fast({ keyStore: storageKeyStore(storage) })(`${server.url}/script/app-restart`, {
      method: "POST",
      intent: "pay",
    });
    const keys = server.arrivals("/script/app-restart").map((arrival) => arrival.key);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
    expect(idempotencyInfo(restarted)?.idempotencyKey).toBe(keys[0]);
    expect(storage.items.size).toBe(0);
  });

  it("drops the key when the server refuses it (422), so the user's next try is not refused again", async () => {
    const storage = new MapStorage();
    const client = fast({ keyStore: storageKeyStore(storage) });
    await client(`${server.url}/charges`, { ...order({ cart: 1 }), idempotencyKey: "edited-cart", intent: "cart" });
    // The same key for a different body: the server refuses it, and the store forgets it.
    await storageKeyStore(storage).set("cart", "edited-cart");
    const refused = await client(`${server.url}/charges`, { ...order({ cart: 2 }), intent: "cart" }).catch(
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(IdempotencyRequestError);
    expect(storage.length).toBe(0);
    const retried = await client(`${server.url}/charges`, { ...order({ cart: 2 }), intent: "cart" });
    expect(retried.status).toBe(201);
    expect(idempotencyInfo(retried)?.idempotencyKey).not.toBe("edited-cart");
  });

  it("keeps the key while the intent has no final answer (retries spent on 503s)", async () => {
    const storage = new MapStorage();
    server.script("unavailable", { status: 503 }, { status: 503 });
    const response = await fast({ keyStore: storageKeyStore(storage), retries: 1 })(
      `${server.url}/script/unavailable`,
      { method: "POST", intent: "later" },
    );
    expect(response.status).toBe(503);
    expect(JSON.parse(storage.getItem("oncely:key:later")!).key).toBe(idempotencyInfo(response)?.idempotencyKey);
  });

  it("a store that cannot write (a full quota) does not stop the request", async () => {
    const broken: StorageLike = {
      getItem: () => null,
      setItem: () => {
        throw new Error("QuotaExceededError");
      },
      removeItem: () => {},
    };
    server.script("quota", "drop");
    const response = await fast({ keyStore: storageKeyStore(broken) })(`${server.url}/script/quota`, {
      method: "POST",
      intent: "q",
    });
    expect(response.status).toBe(200);
    const keys = server.arrivals("/script/quota").map((arrival) => arrival.key);
    expect(keys[0]).toBeDefined();
    expect(keys[1]).toBe(keys[0]);
  });
  it("a slow store clearing the intent does not let the attempt's timeout cut off the returned body", async () => {
    // The final answer clears the intent before the call resolves; an AsyncStorage can take longer than `timeout`.
    const storage = asyncStorage();
    const slow: StorageLike = {
      getItem: async (name) => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return storage.getItem(name);
      },
      setItem: storage.setItem,
      removeItem: storage.removeItem,
    };
    server.script("slow-store", { status: 200, body: '{"whole":"body"}' });
    const response = await fast({ keyStore: storageKeyStore(slow), timeout: 100 })(`${server.url}/script/slow-store`, {
      method: "POST",
      intent: "slow",
    });
    expect(await response.json()).toEqual({ whole: "body" });
    expect(storage.items.size).toBe(0);
  });
});

describe("a double click", () => {
  it("two concurrent calls under one intent share one key: one effect, both get the answer", async () => {
    const slow = server.holdSlow();
    const before = server.effects("slow");
    const client = fast({
      keyStore: memoryKeyStore(),
      onRetry: (info) => {
        if (info.response?.status === 409) slow.open();
      },
    });
    const [a, b] = await Promise.all([
      client(`${server.url}/slow`, { ...order({ click: true }), intent: "submit" }),
      client(`${server.url}/slow`, { ...order({ click: true }), intent: "submit" }),
    ]);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(idempotencyInfo(a)?.idempotencyKey).toBe(idempotencyInfo(b)?.idempotencyKey);
    expect([idempotencyInfo(a)?.replayed, idempotencyInfo(b)?.replayed].sort()).toEqual([false, true]);
    expect(server.effects("slow")).toBe(before + 1);
  });
});
