import { InvalidCursorError } from "../core/errors.js";
import type { ClaimOptions, ClaimResult, Store, StoredResponse } from "../core/store.js";
import { describeStepCases } from "./step-suite.js";
import { describeStreamCases } from "./stream-suite.js";
import type { TestApi } from "./test-api.js";

/** Options of `storeSuite`: the store under test, how to move its clock, and the test functions to run under. */
export interface StoreSuiteOptions {
  /** Shown in the suite's title. */
  name: string;
  /**
   * Returns a new, empty store isolated from every other one it returned (its own key prefix or table), so `list`
   * and `purgeExpired` see only what the test wrote.
   */
  create: () => Store | Promise<Store>;
  /**
   * Moves the store's clock forward by `ms`. Give it for stores that use an injected clock (memory, SQLite); leave it
   * out for stores that judge time by the backend's clock: the suite then sleeps through short real leases.
   */
  advance?: (ms: number) => void | Promise<void>;
  /** Lease and ttl the suite claims with, ms. @default { lease: 400, ttl: 1_200 } */
  timing?: {
    /** The lease of every claim, ms. */
    lease: number;
    /** The ttl of every claim and completion, ms. */
    ttl: number;
  };
  /** The test functions to run under: `{ describe, it, expect, beforeAll, afterAll }`. */
  test: TestApi;
  /** The store records steps (`saveStep`, run ids, stored work): runs the step cases too. */
  steps?: boolean;
  /**
   * The largest record the backend can hold, in bytes (DynamoDB: 400 KB). A case that needs more is not run, and the
   * suite's title says which.
   * @default Infinity
   */
  maxRecordBytes?: number;
  /** The store records streams (`appendStream`, `readStream`): runs the stream cases too. */
  streams?: boolean;
  /** The store keeps replay counts (`countReplays`): runs its case too. */
  replayCounts?: boolean;
  /** The store counts with its own queries (`aggregate`): runs its cases too. */
  aggregate?: boolean;
  /**
   * For a networked store: returns a new store and a count of the round trips it has made to its backend. Runs the
   * case that holds the store to one round trip per claim, renew, complete and release, a replay answered by its
   * claim alone.
   */
  roundTrips?: () => Promise<CountedStore>;
  /** Runs inside the suite's `describe`, for a store's own cases. */
  additionalTests?: (context: { store: () => Store }) => void;
}

/** A store whose round trips to its backend are counted (a counting TCP proxy in front of the server sees them all). */
export interface CountedStore {
  /** A new store, talking to its backend through the counter. */
  store: Store;
  /** The round trips the store has made so far. */
  roundTrips: () => number | Promise<number>;
  /**
   * The backend cannot hand back the record a claim found with the claim itself (MySQL 8 has no `RETURNING`), so
   * such a claim may take one read more.
   */
  readAfterFind?: boolean;
}

/**
 * The store conformance suite: the state machine, fencing, lease takeover, expiry, concurrency and byte-exact
 * storage that every oncely store must get right. Run it against the real backend, never a mock.
 *
 * @example
 * import { describe, it, expect, beforeAll, afterAll } from "vitest";
 * import { testStore } from "oncely/testing";
 * testStore({ name: "my-store", create: () => new MyStore({ prefix: crypto.randomUUID() }),
 *   test: { describe, it, expect, beforeAll, afterAll } });
 */
export function testStore(options: StoreSuiteOptions): void {
  const { describe, it, expect, beforeAll, afterAll } = options.test;
  const { lease, ttl } = options.timing ?? { lease: 400, ttl: 1_200 };
  const slack = options.advance ? 1 : Math.max(100, lease / 4);
  const pass = async (ms: number) => {
    if (options.advance) await options.advance(ms);
    else await new Promise((resolve) => setTimeout(resolve, ms));
  };
  const opened: Store[] = [];
  const fresh = async () => {
    const store = await options.create();
    opened.push(store);
    return store;
  };
  let shared: Store;
  const id = () => `conformance-${crypto.randomUUID()}`;
  const claimOptions = (key = "k"): ClaimOptions => ({ lease, ttl, meta: { key, method: "POST", path: "/things" } });
  // For races: a slow or loaded backend must not see the winner's lease lapse mid-race (a later claim would then
  // take it over, rightly, and the race would seem to have two winners).
  const longLease = (): ClaimOptions => ({ ...claimOptions(), lease: 60_000, ttl: 120_000 });
  const claimed = (result: ClaimResult) => {
    expect(result.status).toBe("claimed");
    if (result.status !== "claimed") throw new Error("unreachable");
    return result;
  };
  const response = (body: Uint8Array, status = 201): StoredResponse => ({
    status,
    headers: [
      ["content-type", "application/octet-stream"],
      ["x-multi", "one"],
      ["x-multi", "two"],
    ],
    body,
    kept: true,
  });

  const MIB = 1024 * 1024;
  // The backend's own record limit leaves out the cases it cannot hold: a capability, named in the title.
  const holdsOneMib = (options.maxRecordBytes ?? Number.POSITIVE_INFINITY) > MIB + 64 * 1024;
  const without = holdsOneMib ? "" : ` (without 1 MiB records: the backend holds ${options.maxRecordBytes} bytes)`;
  describe(`store conformance: ${options.name}${without}`, () => {
    beforeAll(async () => {
      shared = await fresh();
    });
    afterAll(async () => {
      await Promise.all(opened.map((store) => store.close()));
    });

    it("claims a new id once, with a positive token, and records fingerprint and meta", async () => {
      const key = id();
      const first = claimed(await shared.claim(key, "fp-1", claimOptions("client-key")));
      expect(first.recovered).toBe(false);
      expect(first.token).toBeGreaterThan(0);
      const record = await shared.get(key);
      expect(record?.state).toBe("in-flight");
      expect(record?.fingerprint).toBe("fp-1");
      expect(record?.token).toBe(first.token);
      expect(record?.meta).toEqual({ key: "client-key", method: "POST", path: "/things" });
      expect(record?.version).toBeGreaterThan(0);
    });

    it("answers in-flight, with the holder's fingerprint, while a live claim holds the id", async () => {
      const key = id();
      claimed(await shared.claim(key, "fp-1", claimOptions()));
      const same = await shared.claim(key, "fp-1", claimOptions());
      const other = await shared.claim(key, "fp-2", claimOptions());
      expect(same.status).toBe("in-flight");
      expect(other.status).toBe("in-flight");
      if (other.status === "in-flight") expect(other.record.fingerprint).toBe("fp-1");
    });

    it("completes with the holder's token and stores status, headers and body byte for byte", async () => {
      const key = id();
      const { token } = claimed(await shared.claim(key, "fp", claimOptions()));
      const body = new Uint8Array(256).map((_, i) => i);
      expect(await shared.complete(key, token, response(body), ttl)).toBe(true);
      const replay = await shared.claim(key, "fp", claimOptions());
      expect(replay.status).toBe("completed");
      if (replay.status !== "completed") return;
      expect(replay.record.state).toBe("completed");
      expect(replay.record.fingerprint).toBe("fp");
      expect(replay.record.response?.status).toBe(201);
      expect(replay.record.response?.kept).toBe(true);
      expect(replay.record.response?.headers).toEqual(response(body).headers);
      expect(sameBytes(replay.record.response!.body, body)).toBe(true);
      expect(replay.record.completedAt).toBeDefined();
    });

    it("keeps empty bodies, 204s and not-kept outcomes", async () => {
      const empty = id();
      const a = claimed(await shared.claim(empty, "fp", claimOptions()));
      await shared.complete(empty, a.token, { status: 204, headers: [], body: new Uint8Array(), kept: true }, ttl);
      const emptyRecord = await shared.get(empty);
      expect(emptyRecord?.response?.status).toBe(204);
      expect(emptyRecord?.response?.body.byteLength).toBe(0);
      expect(emptyRecord?.response?.headers).toEqual([]);

      const notKept = id();
      const b = claimed(await shared.claim(notKept, "fp", claimOptions()));
      await shared.complete(notKept, b.token, { status: 200, headers: [], body: new Uint8Array(), kept: false }, ttl);
      expect((await shared.get(notKept))?.response?.kept).toBe(false);
    });

    if (holdsOneMib) {
      it("stores a 1 MiB body intact", async () => {
        const key = id();
        const { token } = claimed(await shared.claim(key, "fp", claimOptions()));
        const body = new Uint8Array(MIB).map((_, i) => (i * 7919) % 251);
        expect(await shared.complete(key, token, response(body, 200), ttl)).toBe(true);
        const record = await shared.get(key);
        expect(sameBytes(record!.response!.body, body)).toBe(true);
      });
    }

    it("fences complete, renew and release by token", async () => {
      const key = id();
      const { token } = claimed(await shared.claim(key, "fp", claimOptions()));
      expect(await shared.complete(key, token + 1, response(new Uint8Array([1])), ttl)).toBe(false);
      expect(await shared.renew(key, token - 1, lease)).toBe(false);
      expect(await shared.release(key, token + 1)).toBe(false);
      expect((await shared.get(key))?.state).toBe("in-flight");
      expect(await shared.complete(key, token, response(new Uint8Array([2])), ttl)).toBe(true);
      expect(await shared.complete(key, token, response(new Uint8Array([3])), ttl)).toBe(false);
      expect(Array.from((await shared.get(key))!.response!.body)).toEqual([2]);
    });

    it("never changes a completed record: no release, no renew, no takeover, no overwrite", async () => {
      const key = id();
      const { token } = claimed(await shared.claim(key, "fp", claimOptions()));
      await shared.complete(key, token, response(new Uint8Array([9])), ttl);
      expect(await shared.release(key, token)).toBe(false);
      expect(await shared.renew(key, token, lease)).toBe(false);
      await pass(lease + slack);
      expect((await shared.claim(key, "fp", claimOptions())).status).toBe("completed");
      expect((await shared.claim(key, "other", claimOptions())).status).toBe("completed");
      const record = await shared.get(key);
      expect(record?.fingerprint).toBe("fp");
      expect(Array.from(record!.response!.body)).toEqual([9]);
    });

    it("makes a released record claimable at once, keeping its fingerprint, with a higher token", async () => {
      const key = id();
      const first = claimed(await shared.claim(key, "fp", claimOptions()));
      expect(await shared.release(key, first.token)).toBe(true);
      expect((await shared.get(key))?.state).toBe("released");
      const mismatch = await shared.claim(key, "other", claimOptions());
      expect(mismatch.status).toBe("in-flight");
      if (mismatch.status === "in-flight") expect(mismatch.record.fingerprint).toBe("fp");
      const second = claimed(await shared.claim(key, "fp", claimOptions()));
      expect(second.recovered).toBe(false);
      expect(second.token).toBeGreaterThan(first.token);
      expect(await shared.complete(key, first.token, response(new Uint8Array([1])), ttl)).toBe(false);
      expect(await shared.complete(key, second.token, response(new Uint8Array([2])), ttl)).toBe(true);
    });

    it("lets a new claim take over a lapsed lease, and fences the old holder out", async () => {
      const key = id();
      const first = claimed(await shared.claim(key, "fp", claimOptions()));
      await pass(lease + slack);
      const other = await shared.claim(key, "other", claimOptions());
      expect(other.status).toBe("in-flight");
      const second = claimed(await shared.claim(key, "fp", claimOptions()));
      expect(second.recovered).toBe(true);
      expect(second.token).toBeGreaterThan(first.token);
      expect(await shared.renew(key, first.token, lease)).toBe(false);
      expect(await shared.complete(key, first.token, response(new Uint8Array([1])), ttl)).toBe(false);
      expect(await shared.release(key, first.token)).toBe(false);
      expect(await shared.complete(key, second.token, response(new Uint8Array([2])), ttl)).toBe(true);
      expect(Array.from((await shared.get(key))!.response!.body)).toEqual([2]);
    });

    it("keeps a renewed claim past its first lease", async () => {
      const key = id();
      const { token } = claimed(await shared.claim(key, "fp", claimOptions()));
      await pass(lease / 2);
      expect(await shared.renew(key, token, lease)).toBe(true);
      await pass(lease / 2 + slack / 2);
      expect((await shared.claim(key, "fp", claimOptions())).status).toBe("in-flight");
      expect(await shared.complete(key, token, response(new Uint8Array([1])), ttl)).toBe(true);
    });

    it("forgets a record after its ttl: the key is new again and old tokens stay fenced", async () => {
      const key = id();
      const first = claimed(await shared.claim(key, "fp", claimOptions()));
      await shared.complete(key, first.token, response(new Uint8Array([1])), lease);
      await pass(lease + slack);
      expect(await shared.get(key)).toBeUndefined();
      const again = claimed(await shared.claim(key, "different", claimOptions()));
      expect(again.recovered).toBe(false);
      expect(again.token).not.toBe(first.token);
      expect(await shared.complete(key, first.token, response(new Uint8Array([2])), ttl)).toBe(false);
      expect((await shared.get(key))?.fingerprint).toBe("different");
    });

    it("expires an abandoned claim after the claim ttl", async () => {
      const key = id();
      claimed(await shared.claim(key, "fp", { ...claimOptions(), lease: lease / 2, ttl: lease }));
      await pass(lease + slack);
      expect(await shared.get(key)).toBeUndefined();
    });

    it("grants exactly one of 100 parallel claims of one id", async () => {
      const key = id();
      const results = await Promise.all(Array.from({ length: 100 }, () => shared.claim(key, "fp", longLease())));
      expect(results.filter((r) => r.status === "claimed")).toHaveLength(1);
      expect(results.filter((r) => r.status === "in-flight")).toHaveLength(99);
    });

    it("grants exactly one of 20 parallel takeovers of a lapsed lease", async () => {
      const key = id();
      claimed(await shared.claim(key, "fp", claimOptions()));
      await pass(lease + slack);
      const results = await Promise.all(Array.from({ length: 20 }, () => shared.claim(key, "fp", longLease())));
      expect(results.filter((r) => r.status === "claimed")).toHaveLength(1);
    });

    it("keeps ids apart: one id's record never answers for another", async () => {
      const a = id();
      const b = id();
      const first = claimed(await shared.claim(a, "fp", claimOptions()));
      await shared.complete(a, first.token, response(new Uint8Array([1])), ttl);
      claimed(await shared.claim(b, "fp", claimOptions()));
      expect((await shared.get(b))?.state).toBe("in-flight");
      expect(await shared.complete(b, first.token + 1000, response(new Uint8Array([2])), ttl)).toBe(false);
    });

    it("deletes a record", async () => {
      const key = id();
      claimed(await shared.claim(key, "fp", claimOptions()));
      expect(await shared.delete(key)).toBe(true);
      expect(await shared.get(key)).toBeUndefined();
      expect(await shared.delete(key)).toBe(false);
      claimed(await shared.claim(key, "fp", claimOptions()));
    });

    it("lists records by state and since, and pages through them without loss or repeat", async () => {
      const store = await fresh();
      const early = Array.from({ length: 3 }, id);
      for (const key of early) await store.claim(key, "fp", claimOptions());
      await pass(slack);
      const late = Array.from({ length: 3 }, id);
      for (const key of late) await store.claim(key, "fp", claimOptions());
      const doneId = id();
      const done = claimed(await store.claim(doneId, "fp", claimOptions()));
      expect(await store.complete(doneId, done.token, response(new Uint8Array([1])), ttl)).toBe(true);

      const all = await store.list({ limit: 100 });
      expect(all.records).toHaveLength(7);
      expect(all.cursor).toBeUndefined();
      expect((await store.list({ state: "in-flight" })).records.map((r) => r.id).sort()).toEqual(
        [...early, ...late].sort(),
      );
      const completed = (await store.list({ state: "completed" })).records;
      expect(completed.map((r) => r.id)).toEqual([doneId]);
      expect([...(completed[0]?.response?.body ?? [])]).toEqual([1]);
      const since = (await store.get(late[0]!))!.createdAt;
      const recent = (await store.list({ since })).records.map((r) => r.id);
      expect(recent.sort()).toEqual([...late, doneId].sort());

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ limit: 2, cursor });
        expect(page.records.length <= 2).toBe(true);
        seen.push(...page.records.map((r) => r.id));
        cursor = page.cursor;
        pages++;
      } while (cursor && pages < 50);
      expect(seen.sort()).toEqual(all.records.map((r) => r.id).sort());
    });

    it("refuses a list cursor it did not make with an InvalidCursorError", async () => {
      // "WzFd" is `[1]` in base64url: a well-formed cursor encoding that no store wrote.
      for (const cursor of ["not a cursor", "bm90IGpzb24", "WzFd"]) {
        const error = await shared.list({ cursor }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error instanceof InvalidCursorError).toBe(true);
      }
    });

    it("replaces an expired completed record with a fresh claim that carries nothing of the old one", async () => {
      const key = id();
      const first = claimed(await shared.claim(key, "old", claimOptions("old-key")));
      await shared.complete(key, first.token, response(new Uint8Array([9, 9])), lease);
      await pass(lease + slack);
      const again = claimed(await shared.claim(key, "new", claimOptions("new-key")));
      expect(again.recovered).toBe(false);
      const record = await shared.get(key);
      expect(record?.state).toBe("in-flight");
      expect(record?.fingerprint).toBe("new");
      expect(record?.response).toBeUndefined();
      expect(record?.completedAt).toBeUndefined();
      expect(record?.meta.key).toBe("new-key");
      expect(record?.token).toBe(again.token);
    });

    it("grants exactly one claim per round when 100 claims race again and again on a warm store", async () => {
      const long = longLease();
      for (let round = 0; round < 5; round++) {
        const key = id();
        const results = await Promise.all(Array.from({ length: 100 }, () => shared.claim(key, "fp", long)));
        const winners = results.filter((r) => r.status === "claimed");
        expect(winners).toHaveLength(1);
        // The losers see the winner's record; a release then lets exactly one of a second race take it over.
        expect(results.filter((r) => r.status !== "claimed" && r.record.fingerprint !== "fp")).toEqual([]);
        expect(await shared.release(key, claimed(winners[0]!).token)).toBe(true);
        const retakes = await Promise.all(Array.from({ length: 100 }, () => shared.claim(key, "fp", long)));
        expect(retakes.filter((r) => r.status === "claimed")).toHaveLength(1);
      }
    });

    it("purges expired records, at most `limit` at a time", async () => {
      const store = await fresh();
      for (let i = 0; i < 3; i++) await store.claim(id(), "fp", { ...claimOptions(), lease: lease / 2, ttl: lease });
      const keep = id();
      await store.claim(keep, "fp", { ...claimOptions(), ttl: ttl * 10 });
      await pass(lease + slack);
      expect(await store.purgeExpired({ limit: 2 })).toBe(2);
      expect(await store.purgeExpired({ limit: 10 })).toBe(1);
      expect((await store.get(keep))?.state).toBe("in-flight");
    });

    const { roundTrips } = options;
    if (roundTrips) {
      it("takes one round trip per claim, renew, complete and release, and answers a replay with its claim alone", async () => {
        const counted = await roundTrips();
        opened.push(counted.store);
        const { store } = counted;
        const trips = async (operation: () => Promise<unknown>) => {
          const before = await counted.roundTrips();
          await operation();
          return (await counted.roundTrips()) - before;
        };
        // A whole lifecycle first: connecting, and what a connection sets up once (statements, scripts), is not counted.
        const warm = id();
        const warmClaim = claimed(await store.claim(warm, "fp", claimOptions()));
        await store.renew(warm, warmClaim.token, lease);
        await store.complete(warm, warmClaim.token, response(new Uint8Array([1])), ttl);
        await store.claim(warm, "fp", claimOptions());
        const warmReleased = id();
        await store.release(warmReleased, claimed(await store.claim(warmReleased, "fp", claimOptions())).token);
        await store.claim(warmReleased, "fp", claimOptions());

        const found = counted.readAfterFind ? 2 : 1;
        const key = id();
        let first: ClaimResult | undefined;
        expect(await trips(async () => (first = await store.claim(key, "fp", longLease())))).toBe(1);
        const { token } = claimed(first!);
        expect(await trips(() => store.claim(key, "fp", longLease()))).toBe(found);
        expect(await trips(() => store.renew(key, token, lease))).toBe(1);
        expect(await trips(() => store.complete(key, token, response(new Uint8Array([2])), ttl))).toBe(1);
        let replay: ClaimResult | undefined;
        expect(await trips(async () => (replay = await store.claim(key, "fp", longLease())))).toBe(found);
        expect(replay?.status).toBe("completed");

        const released = id();
        const held = claimed(await store.claim(released, "fp", longLease()));
        expect(await trips(() => store.release(released, held.token))).toBe(1);
        let retaken: ClaimResult | undefined;
        expect(await trips(async () => (retaken = await store.claim(released, "fp", longLease())))).toBe(found);
        expect(claimed(retaken!).token).toBeGreaterThan(held.token);
      });
    }
    if (options.replayCounts) {
      const count = (counts: Map<string, number>) => shared.countReplays!(counts);
      const completed = async (ttlOfRecord = ttl) => {
        const key = id();
        const { token } = claimed(await shared.claim(key, "fp", claimOptions()));
        expect(await shared.complete(key, token, response(new Uint8Array([1])), ttlOfRecord)).toBe(true);
        return key;
      };
      it("adds replay counts to live completed records only, keeps their expiry, and ignores ids it does not hold", async () => {
        const key = await completed();
        const running = id();
        claimed(await shared.claim(running, "fp", claimOptions()));
        const absent = id();
        const expiresAt = (await shared.get(key))?.expiresAt;
        await count(new Map([[key, 2]]));
        await count(
          new Map([
            [key, 3],
            [running, 4],
            [absent, 4],
          ]),
        );
        const record = await shared.get(key);
        expect([record?.replays, record?.expiresAt]).toEqual([5, expiresAt]);
        expect((await shared.list({ limit: 1_000 })).records.find((record) => record.id === key)?.replays).toBe(5);
        expect((await shared.get(running))?.replays ?? 0).toBe(0);
        expect(await shared.get(absent)).toBeUndefined();
      });

      it("starts a record made afresh after expiry at 0 replays, whatever was counted for the one before", async () => {
        const key = await completed(lease);
        await count(new Map([[key, 2]]));
        expect((await shared.get(key))?.replays).toBe(2);
        await pass(lease + slack);
        await count(new Map([[key, 5]]));
        claimed(await shared.claim(key, "fp", claimOptions()));
        expect((await shared.get(key))?.replays ?? 0).toBe(0);
      });
    }
    if (options.aggregate) {
      it("counts live records by state, the oldest and newest, what expires soon and what expired (aggregate)", async () => {
        const store = await fresh();
        expect(typeof store.aggregate).toBe("function");
        // Live records outlast the test by far, on a slow backend too; the window takes all of them but one.
        const long = { ...claimOptions(), ttl: ttl * 10 };
        const window = { expiringWithin: ttl * 100 };
        expect(await store.aggregate!(window)).toEqual({
          states: { "in-flight": 0, released: 0, completed: 0 },
          expiringSoon: 0,
          expired: 0,
        });
        // Created first, expired before the count: neither counted as live nor taken for the oldest.
        for (let i = 0; i < 2; i++) await store.claim(id(), "fp", { ...claimOptions(), lease: lease / 2, ttl: lease });
        await pass(slack);
        const live = Array.from({ length: 5 }, id);
        const [running, alsoRunning, released, done, kept] = live as [string, string, string, string, string];
        await store.claim(running, "fp", long);
        await store.claim(alsoRunning, "fp", long);
        await store.release(released, claimed(await store.claim(released, "fp", long)).token);
        const doneClaim = claimed(await store.claim(done, "fp", long));
        await store.complete(done, doneClaim.token, response(new Uint8Array()), ttl * 10);
        const keptClaim = claimed(await store.claim(kept, "fp", long));
        await store.complete(kept, keptClaim.token, response(new Uint8Array()), ttl * 1000);
        await pass(lease + slack);

        const created = await Promise.all(live.map(async (key) => (await store.get(key))!.createdAt));
        const counted = await store.aggregate!(window);
        expect(counted).toEqual({
          states: { "in-flight": 2, released: 1, completed: 2 },
          oldest: Math.min(...created),
          newest: Math.max(...created),
          // All live records but the one kept for ttl * 1000.
          expiringSoon: 4,
          expired: 2,
        });
        expect(await store.purgeExpired()).toBe(2);
        expect(await store.aggregate!(window)).toEqual({ ...counted, expired: 0 });
      });
    }
    if (options.streams) {
      describeStreamCases({ test: options.test, store: () => shared, lease, ttl, pass, slack });
    }
    if (options.steps) {
      describeStepCases({ test: options.test, store: () => shared, lease, ttl, pass, slack });
    }
    options.additionalTests?.({ store: () => shared });
  });
}

// Web APIs only (no Buffer, no node:crypto), so the suite also runs inside Bun, Deno and workerd.
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}
