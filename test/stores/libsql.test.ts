import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Client, createClient } from "@libsql/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreError } from "../../src/core/errors.js";
import { LibsqlStore } from "../../src/stores/libsql/index.js";
import { testStore } from "../../src/testing/index.js";

const dir = mkdtempSync(join(tmpdir(), "oncely-libsql-"));
let files = 0;
const url = () => `file:${join(dir, `store-${files++}.db`)}`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let now = 1_700_000_000_000;
const clock = () => now;

/**
 * A client whose requests are counted: over a network URL (sqld, Turso) each `execute` and `batch` is one HTTP
 * request, so the count is the store's round trips. A local file has no network to put a counting proxy on.
 */
function countedClient(client: Client): { client: Client; calls: () => number } {
  let calls = 0;
  const counted = new Proxy(client, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (name === "execute" || name === "batch" || name === "executeMultiple") calls++;
        return value.apply(target, args);
      };
    },
  });
  return { client: counted, calls: () => calls };
}

testStore({
  name: "libsql (file)",
  create: () => new LibsqlStore({ url: url(), now: clock }),
  advance: (ms) => {
    now += ms;
  },
  test: { describe, it, expect, beforeAll, afterAll },
  steps: true,
  streams: true,
  replayCounts: true,
  roundTrips: async () => {
    const { client, calls } = countedClient(createClient({ url: url() }));
    const store = new LibsqlStore({ client, now: clock });
    await store.migrate();
    const opened = calls();
    return { store, roundTrips: () => calls() - opened };
  },
});

describe("LibsqlStore", () => {
  it("shares one file between two clients, as two processes would: one claim wins", async () => {
    const shared = url();
    const a = new LibsqlStore({ url: shared, now: clock });
    const b = new LibsqlStore({ url: shared, now: clock });
    const options = { lease: 1000, ttl: 10_000, meta: { key: "k" } };
    const results = await Promise.all([a.claim("one", "fp", options), b.claim("one", "fp", options)]);
    expect(results.map((result) => result.status).sort()).toEqual(["claimed", "in-flight"]);
    await Promise.all([a.close(), b.close()]);
  });

  it("appends a stream's batch in one round trip, reads it in one, and purges it with the expired records", async () => {
    const { client, calls } = countedClient(createClient({ url: url() }));
    const store = new LibsqlStore({ client, now: clock });
    const options = { lease: 1000, ttl: 10_000, meta: { key: "k" } };
    const claim = await store.claim("streamed", "fp", options);
    if (claim.status !== "claimed") throw new Error("not claimed");
    const entries = Array.from({ length: 64 }, (_, i) => Uint8Array.of(i));
    const before = calls();
    expect(await store.appendStream("streamed", claim.token, entries, 10_000)).toBe(true);
    expect(await store.readStream("streamed", claim.token, 62, 0)).toEqual({
      state: "held",
      entries: entries.slice(62),
    });
    expect(calls() - before).toBe(2);
    now += 10_001;
    expect(await store.purgeExpired()).toBe(1);
    expect((await client.execute('SELECT count(*) AS n FROM "oncely_records_stream"')).rows[0]?.n).toBe(0);
    await store.close();
    client.close();
  });

  it("refuses bad options at construction, naming the option", () => {
    expect(() => new LibsqlStore({})).toThrow(/exactly one of `client`/);
    expect(() => new LibsqlStore({ url: "file:x.db", table: "bad-name" })).toThrow(/`table`/);
    expect(() => new LibsqlStore({ client: {} as Client })).toThrow(/`client`/);
    expect(() => new LibsqlStore({ url: "file:x.db", prefix: "x" } as never)).toThrow(/prefix/);
  });

  it("reports a database it cannot open as a StoreError naming the store", async () => {
    const store = new LibsqlStore({ url: `file:${join(dir, "missing", "dir", "x.db")}` });
    const error = await store.get("x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(String((error as Error).message)).toMatch(/^\[oncely\] \[libsql\]/);
    await store.close();
  });

  it("leaves a client it was given open on close()", async () => {
    const client = createClient({ url: url() });
    const store = new LibsqlStore({ client });
    await store.migrate();
    await store.close();
    expect(client.closed).toBe(false);
    client.close();
  });
});
