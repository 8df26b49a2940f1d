import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreError, StoreTimeoutError } from "../../src/core/errors.js";
import type { IdempotencyRecord, Store } from "../../src/core/store.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { indexScripts } from "../../src/stores/redis/record-index.js";
import { scripts } from "../../src/stores/redis/scripts.js";
import { testStore } from "../../src/testing/index.js";
import { type RoundTripProxy, roundTripProxy } from "../support/round-trip-proxy.js";
import { serviceAvailable, services } from "../support/services.js";
import { claimToken } from "../support/store-lifecycle.js";
import { until } from "../support/until.js";

const { url } = services.redis;
// Every key this file writes starts with `base`, so afterAll can remove them; files run in parallel on one server.
const base = `oncely-test:${randomUUID().slice(0, 8)}:`;
const prefix = () => `${base}${randomUUID().slice(0, 8)}:`;
const opts = { lease: 1000, ttl: 10_000, meta: { key: "k" } };
const ok = { status: 201, headers: [["x-a", "1"]] as [string, string][], body: new Uint8Array([0, 255]), kept: true };
const claimed = (store: Store, id: string) => claimToken(store, id, opts);

if (await serviceAvailable("redis")) {
  const client = new Redis(url);
  const proxies: RoundTripProxy[] = [];
  afterAll(async () => {
    await Promise.all(proxies.map((proxy) => proxy.close()));
    const keys = await client.keys(`${base}*`);
    if (keys.length > 0) await client.unlink(...keys);
    await client.quit();
  });

  testStore({
    name: "redis",
    create: () => new RedisStore({ client, prefix: prefix() }),
    test: { describe, it, expect, beforeAll, afterAll },
    steps: true,
    streams: true,
    replayCounts: true,
    aggregate: true,
    roundTrips: async () => {
      const proxy = await roundTripProxy(services.redis.host, services.redis.port);
      proxies.push(proxy);
      return { store: new RedisStore({ url: `redis://127.0.0.1:${proxy.port}`, prefix: prefix() }), ...proxy };
    },
    additionalTests: ({ store }) => {
      it("sends one command per operation (a script, by hash once loaded) and nothing else, replay counts included", async () => {
        const own = new Redis(url);
        const counted = new RedisStore({ client: own, prefix: prefix() });
        await own.ping();
        const source = `127.0.0.1:${own.stream.localPort}`;
        const monitor = await own.monitor();
        const seen: string[] = [];
        monitor.on("monitor", (_time: string, args: string[], from: string) => {
          if (from === source) seen.push(args[0]!.toLowerCase());
        });
        const token = await claimed(counted, "id");
        expect(await counted.renew("id", token, 1000)).toBe(true);
        await counted.complete("id", token, ok, 10_000);
        await counted.get("id");
        expect((await counted.claim("id", "fp", opts)).status).toBe("completed");
        expect(await counted.release("other", await claimed(counted, "other"))).toBe(true);
        await counted.countReplays(new Map([["id", 1]]));
        await own.echo("done");
        await expect.poll(() => seen.at(-1), { timeout: 10_000 }).toBe("echo");
        // The first use of a script on a connection sends its source (EVAL); later uses send its hash (EVALSHA). The
        // scripts read the clock themselves: no TIME, GET or INCR of their own.
        expect(seen).toEqual(["eval", "eval", "eval", "eval", "evalsha", "evalsha", "eval", "eval", "echo"]);
        monitor.disconnect();
        own.disconnect();
      });

      it("sends what operations started in one turn of the event loop in one write, each in a tick of its own", async () => {
        const own = new Redis(url);
        const batched = new RedisStore({ client: own, prefix: prefix() });
        await claimed(batched, "warm-up"); // connects and loads the claim script (EVAL), so all below is EVALSHA
        // The writes the socket hands to the system, counted where the stream makes them.
        const socket = own.stream as unknown as Record<"_write" | "_writev", (...args: unknown[]) => void>;
        let writes = 0;
        for (const name of ["_write", "_writev"] as const) {
          const write = socket[name];
          socket[name] = function (this: unknown, ...args: unknown[]) {
            writes++;
            return write.apply(this, args);
          };
        }
        // As a server starts them: each request arrives in its own tick (a socket's data event, here an immediate).
        const claims = await Promise.all(
          Array.from(
            { length: 10 },
            (_, i) => new Promise((resolve) => setImmediate(() => resolve(claimed(batched, `id-${i}`)))),
          ),
        );
        expect(claims).toHaveLength(10);
        expect(writes).toBe(1);
        own.disconnect();
      });

      it("names each script by the SHA-1 Redis computes for it (EVALSHA finds it)", async () => {
        for (const script of [...Object.values(scripts), ...Object.values(indexScripts)]) {
          expect(await client.script("LOAD", script.lua)).toBe(script.sha);
        }
      });

      it("stores one hash per record under a hash-tagged key, with native expiry a little past expiresAt", async () => {
        const keyPrefix = prefix();
        const tagged = new RedisStore({ client, prefix: keyPrefix });
        const token = await claimed(tagged, "id");
        expect(await client.type(`${keyPrefix}{id}`)).toBe("hash");
        await tagged.complete("id", token, ok, 10_000);
        const pttl = await client.pttl(`${keyPrefix}{id}`);
        expect(pttl).toBeGreaterThan(10_000);
        expect(pttl).toBeLessThanOrEqual(10_000 + 60_000);
      });

      it("works with the client's keyPrefix (list and purge included) and stringNumbers", async () => {
        const prefixed = new Redis(url, { keyPrefix: prefix(), stringNumbers: true });
        const inner = new RedisStore({ client: prefixed, prefix: "p:" });
        const token = await claimed(inner, "a");
        expect(await inner.renew("a", token, 1000)).toBe(true);
        await inner.claim("b", "fp", { ...opts, lease: 50, ttl: 100 });
        expect(await client.exists(`${prefixed.options.keyPrefix}p:{a}`)).toBe(1);
        await until(async () => (await inner.get("b")) === undefined, "b to expire");
        expect((await inner.list()).records.map((record) => record.id)).toEqual(["a"]);
        expect(await inner.purgeExpired()).toBe(1);
        expect(await inner.delete("a")).toBe(true);
        prefixed.disconnect();
      });

      it("opens its own connection from `url`, and closes it", async () => {
        const own = new RedisStore({ url, prefix: prefix() });
        const token = await claimed(own, "id");
        expect(await own.complete("id", token, ok, 10_000)).toBe(true);
        await own.close();
        await expect(own.get("id")).rejects.toThrow(/closed/);
      });

      it("fails fast with a StoreError when Redis is unreachable, with its own or the caller's client", async () => {
        const own = new RedisStore({ url: "redis://127.0.0.1:1", timeout: 500 });
        let started = Date.now();
        await expect(own.claim("id", "fp", opts)).rejects.toThrow(/claim failed: .*ECONNREFUSED/);
        await expect(own.get("id")).rejects.toThrow(StoreError);
        expect(Date.now() - started).toBeLessThan(2000);
        await own.close();
        // A default ioredis client queues commands until it connects: the store's timeout still bounds the wait.
        const queueing = new Redis("redis://127.0.0.1:1", { lazyConnect: true });
        queueing.on("error", () => {});
        started = Date.now();
        const theirs = new RedisStore({ client: queueing, timeout: 300 });
        await expect(theirs.get("id")).rejects.toThrow(StoreTimeoutError);
        expect(Date.now() - started).toBeLessThan(1000);
        queueing.disconnect();
      });

      it("takes over a record an earlier oncely wrote (no run id): it gets the offered run id and keeps it", async () => {
        const keyPrefix = prefix();
        const legacy = new RedisStore({ client, prefix: keyPrefix });
        const now = Number((await client.time())[0]) * 1000;
        // The hash layout of oncely before steps: no run_id, step_count or step fields.
        await client.hset(`${keyPrefix}{old}`, {
          ...{ state: "released", fingerprint: "fp", token: 7, created_at: now, lease_until: 0 },
          ...{ expires_at: now + 10_000, meta: JSON.stringify({ key: "k" }), version: 1 },
        });
        expect((await legacy.get("old"))?.runId).toBeUndefined();
        const runId = randomUUID();
        const claim = await legacy.claim("old", "fp", { ...opts, runId });
        expect(claim).toEqual({ status: "claimed", token: 8, recovered: false, runId, steps: [] });
        expect(await legacy.saveStep("old", 8, { name: "a", seq: 0, state: "done", value: "1" })).toBe(true);
        expect(await legacy.release("old", 8)).toBe(true);
        const again = await legacy.claim("old", "fp", { ...opts, runId: randomUUID() });
        expect(again).toEqual({
          ...{ status: "claimed", token: 9, recovered: false, runId },
          steps: [{ name: "a", seq: 0, state: "done", value: "1" }],
        });
        expect(await legacy.get("old")).toMatchObject({ runId, steps: [{ name: "a" }] });
      });

      it("serves records oncely 0.1.0 wrote (its four index sets included): read, replay, complete, release, purge", async () => {
        const keyPrefix = prefix();
        const store = new RedisStore({ client, prefix: keyPrefix });
        const now = Number((await client.time())[0]) * 1000;
        const meta = JSON.stringify({ key: "k" });
        // What oncely 0.1.0's scripts wrote: the hash, the record's index entries (created, and one set per state),
        // native expiry a minute past expires_at.
        const write = async (id: string, state: string, token: number, expiresAt: number, done?: boolean) => {
          const key = `${keyPrefix}{${id}}`;
          await client.hset(key, {
            ...{
              state,
              fingerprint: "fp",
              token,
              created_at: now - 500,
              lease_until: state === "in-flight" ? now + 30_000 : 0,
            },
            ...{ expires_at: expiresAt, meta, version: 1, run_id: `run-${id}` },
          });
          if (done) {
            await client.hset(key, { completed_at: now - 100, status: 201, headers: '[["x-a","1"]]', kept: 1 });
            await client.hset(key, "body", Buffer.from([0, 255]));
          }
          await client.pexpireat(key, expiresAt + 60_000);
          await client.zadd(`${keyPrefix}{index}:created`, now - 500, id);
          await client.zadd(`${keyPrefix}{index}:${state}`, expiresAt, id);
        };
        await write("done", "completed", 5, now + 10_000, true);
        await write("held", "in-flight", 7, now + 10_000);
        await write("let-go", "in-flight", 3, now + 10_000);
        await write("old", "completed", 2, now - 1_000, true);

        // A response as it reads back: the body's bytes, whatever the view over them.
        const answer = (record?: IdempotencyRecord) =>
          record?.response && { ...record.response, body: [...record.response.body] };
        const expected = { ...ok, body: [0, 255] };
        const done = await store.get("done");
        expect(done).toMatchObject({ state: "completed", token: 5, runId: "run-done" });
        expect(answer(done)).toEqual(expected);
        const replay = await store.claim("done", "fp", opts);
        expect(replay.status === "completed" && answer(replay.record)).toEqual(expected);
        expect(await store.complete("held", 7, ok, 10_000)).toBe(true);
        const replayed = await store.claim("held", "fp", opts);
        expect(replayed.status === "completed" && answer(replayed.record)).toEqual(expected);
        expect(await store.release("let-go", 3)).toBe(true);
        expect(await store.claim("let-go", "fp", opts)).toMatchObject({
          status: "claimed",
          token: 4,
          runId: "run-let-go",
        });
        expect((await store.list()).records.map((record) => record.id).sort()).toEqual(["done", "held", "let-go"]);
        expect(await store.aggregate()).toMatchObject({
          states: { "in-flight": 1, released: 0, completed: 2 },
          expired: 1,
          oldest: now - 500,
          newest: now - 500,
        });
        expect(await store.purgeExpired()).toBe(1);
        expect(await client.exists(`${keyPrefix}{old}`)).toBe(0);
        // Nothing reads 0.1.0's state sets any more: the purge deleted them.
        const sets = ["in-flight", "released", "completed"].map((state) => `${keyPrefix}{index}:${state}`);
        expect(await client.exists(...sets)).toBe(0);
        expect(await client.zrange(`${keyPrefix}{index}:created`, "0", "-1")).toEqual(["done", "held", "let-go"]);
      });

      it("indexes records an earlier oncely wrote once reindex() runs, and only then lists and counts them", async () => {
        const keyPrefix = prefix();
        const store = new RedisStore({ client, prefix: keyPrefix });
        await claimed(store, "new");
        const now = Number((await client.time())[0]) * 1000;
        // Hashes as oncely wrote them before the index: nothing else knows of them.
        for (const [id, state] of [
          ["old-1", "completed"],
          ["old-2", "released"],
        ] as const) {
          await client.hset(`${keyPrefix}{${id}}`, {
            ...{ state, fingerprint: "fp", token: 7, created_at: now - 1000, lease_until: 0 },
            ...{ expires_at: now + 10_000, meta: JSON.stringify({ key: id }), version: 1 },
          });
        }
        expect((await store.list()).records.map((record) => record.id)).toEqual(["new"]);
        expect(await store.reindex()).toBe(3);
        expect((await store.list()).records.map((record) => record.id).sort()).toEqual(["new", "old-1", "old-2"]);
        expect((await store.aggregate()).states).toEqual({ "in-flight": 1, released: 1, completed: 1 });
        expect(await store.reindex()).toBe(3);
        expect((await store.aggregate()).states).toEqual({ "in-flight": 1, released: 1, completed: 1 });
      });

      it("drops index entries of records Redis's own expiry reclaimed as new records are claimed", async () => {
        const keyPrefix = prefix();
        const store = new RedisStore({ client, prefix: keyPrefix });
        const now = Number((await client.time())[0]) * 1000;
        // What a record leaves in the index when Redis deletes it on its own, a minute past its expiry.
        for (const state of ["in-flight", "released", "completed"]) {
          await client.zadd(`${keyPrefix}{index}:${state}`, now - 61_000, `gone-${state}`);
          await client.zadd(`${keyPrefix}{index}:created`, now - 100_000, `gone-${state}`);
        }
        expect((await store.aggregate()).expired).toBe(3);
        // One new record in four sweeps one of the three state sets, both chosen by the server's clock (ms): a few
        // hundred claims spread over enough milliseconds to visit all three.
        const gone = async () =>
          (await client.zrange(`${keyPrefix}{index}:created`, "0", "-1")).filter((id) => id.startsWith("gone"));
        let claims = 0;
        while ((await gone()).length > 0 && claims < 2000) await claimed(store, `fresh-${claims++}`);
        expect(await gone()).toEqual([]);
        expect((await store.aggregate()).expired).toBe(0);
        expect((await store.aggregate()).states["in-flight"]).toBe(claims);
      });

      it("counts replays in one pipeline: never creates a key, leaves in-flight records and every expiry alone", async () => {
        const keyPrefix = prefix();
        const counting = new RedisStore({ client, prefix: keyPrefix });
        await counting.complete("done", await claimed(counting, "done"), ok, 10_000);
        await claimed(counting, "running");
        const ttls = async () => Promise.all(["done", "running"].map((id) => client.pttl(`${keyPrefix}{${id}}`)));
        const before = await ttls();
        await counting.countReplays(
          new Map([
            ["done", 2],
            ["running", 5],
            ["absent", 1],
          ]),
        );
        expect((await counting.get("done"))?.replays).toBe(2);
        expect(await client.hget(`${keyPrefix}{running}`, "replays")).toBeNull();
        expect((await counting.get("running"))?.replays).toBe(0);
        expect(await client.exists(`${keyPrefix}{absent}`)).toBe(0);
        const after = await ttls();
        for (const [i, ttl] of after.entries()) expect(ttl).toBeLessThanOrEqual(before[i]!);
        // A client with its own keyPrefix and string replies counts the same.
        const prefixed = new Redis(url, { keyPrefix: prefix(), stringNumbers: true });
        const inner = new RedisStore({ client: prefixed, prefix: "p:" });
        await inner.complete("a", await claimed(inner, "a"), ok, 10_000);
        await inner.countReplays(new Map([["a", 3]]));
        await inner.countReplays(new Map([["a", 1]]));
        expect((await inner.get("a"))?.replays).toBe(4);
        prefixed.disconnect();
      });

      it("keeps at most 1,000 steps per run, and checks step names itself", async () => {
        const token = await claimed(store() as RedisStore, "many");
        const step = (seq: number) => ({ name: `s${seq}`, seq, state: "started" as const });
        const saved = await Promise.all(
          Array.from({ length: 1000 }, (_, seq) => store().saveStep!("many", token, step(seq))),
        );
        expect(saved.every(Boolean)).toBe(true);
        await expect(store().saveStep!("many", token, step(1000))).rejects.toThrow(StoreError);
        // A started step can still settle at the bound.
        expect(await store().saveStep!("many", token, { ...step(3), state: "done", value: "3" })).toBe(true);
        const record = await store().get("many");
        expect(record?.steps).toHaveLength(1000);
        expect(record?.steps?.[3]).toEqual({ name: "s3", seq: 3, state: "done", value: "3" });
        await expect(store().saveStep!("many", token, { ...step(0), name: 'a"b' })).rejects.toThrow(TypeError);
      });

      it("validates its options", async () => {
        expect(() => new RedisStore({})).toThrow(/exactly one of `client`/);
        expect(() => new RedisStore({ url: "http://localhost" })).toThrow(/`url`/);
        expect(() => new RedisStore({ client, prefix: "a{b}" })).toThrow(/`prefix`/);
        expect(() => new RedisStore({ client, timeout: "soon" as never })).toThrow(/`timeout`/);
        await expect(store().list({ cursor: "nope" })).rejects.toThrow(/`cursor`/);
      });

      it("names the package to install when ioredis is missing", async () => {
        // A resolve hook in a child process makes the package unresolvable, as in an app that never installed it.
        const hook = `export async function resolve(specifier, context, next) {
          if (specifier === "ioredis") throw Object.assign(new Error("not found"), { code: "ERR_MODULE_NOT_FOUND" });
          return next(specifier, context);
        }`;
        const child = `(await import("node:module")).register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hook)}));
          const { RedisStore } = await import(${JSON.stringify(fileURLToPath(new URL("../../src/stores/redis/index.ts", import.meta.url)))});
          await new RedisStore({ url: "redis://127.0.0.1:6379" }).get("id").catch((error) => console.log(error.message));`;
        const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "-e", child]);
        expect(stdout.trim()).toBe('[oncely] [redis] RedisStore needs the "ioredis" package: npm install ioredis');
      });
    },
  });
} else {
  // services.ts has printed which tests this leaves out, and why.
  describe.skip("redis store (server not reachable)", () => {});
}
