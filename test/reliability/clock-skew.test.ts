/**
 * Clock skew (issue 8): processes whose clocks disagree by seconds share one store. Each skewed process is a child
 * whose `Date` is moved by ONCELY_CLOCK_SKEW_MS (support/skewed-clock.ts) and serves every store over real HTTP
 * (support/skew-worker.ts); the parent's engine runs on the true clock and holds claims whose lease is never renewed
 * (a holder that froze), so leases lapse at a known time.
 *
 * Redis, PostgreSQL and MariaDB judge leases and expiry by the server's clock (`TIME`, `statement_timestamp()`,
 * `UTC_TIMESTAMP(3)`): an engine 5 s ahead or behind neither takes over a live lease nor serves an expired record.
 * DynamoDB has no server clock and uses the caller's: skew smaller than the lease is safe, skew larger than the lease
 * lets a takeover happen early, and a clock behind serves a record past its TTL by up to the skew. The memory and
 * SQLite stores live in one process (SQLite: one host) and use the engine's clock, so there is no skew to test.
 */
import { type ChildProcess, fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/core/store.js";
import {
  type Backend,
  dynamodbBackend,
  mysqlBackend,
  postgresBackend,
  redisBackend,
} from "../multiprocess/backends.js";
import { dynaliteCredentials, openStore, type StoreConfig } from "../multiprocess/store-config.js";
import { serviceAvailable } from "../support/services.js";
import { type CountingApp, startCountingApp } from "./support/counting-app.js";
import { sleep } from "./support/outage-cycle.js";
import type { SkewWorkerConfig } from "./support/skew-worker.js";

const LEASE = 2_000;
/** Longer than the lease plus the largest skew, so the lease tests see lapsed leases, never expired records. */
const TTL = 10_000;
/** The expiry tests' TTL. */
const SHORT_TTL = 2_000;
/** Past a lease or TTL by this much before relying on it having lapsed (timer lateness on a loaded machine). */
const MARGIN = 600;
const STORE_TIMEOUT = 2_000;
const SKEWS = [5_000, -5_000, 1_000] as const;
const worker = fileURLToPath(new URL("./support/skew-worker.ts", import.meta.url));
const clock = fileURLToPath(new URL("./support/skewed-clock.ts", import.meta.url));
Object.assign(process.env, dynaliteCredentials);

const backends: Backend[] = [];
for (const backend of [redisBackend(), postgresBackend(), mysqlBackend(), dynamodbBackend()]) {
  if (!backend.service || (await serviceAvailable(backend.service))) backends.push(backend);
}
const configs = new Map<string, StoreConfig>();
const children: ChildProcess[] = [];
const origins = new Map<number, string>();
const figures: Record<string, unknown>[] = [];

/** A store whose holder never renews its lease: a process that froze while holding a claim. */
function frozen(store: Store): Store {
  return new Proxy(store, {
    get: (target, name, receiver) =>
      name === "renew"
        ? async () => true
        : (Reflect.get(target, name, receiver)?.bind?.(target) ?? Reflect.get(target, name, receiver)),
  });
}

async function post(skew: number, kind: string, key: string, ttl: "long" | "short" = "long") {
  const response = await fetch(`${origins.get(skew)}/guarded`, {
    method: "POST",
    headers: { "idempotency-key": key, "content-type": "application/json", "x-store": kind, "x-ttl": ttl },
    body: `{"amount":100}`,
  });
  const text = await response.text();
  return {
    status: response.status,
    replayed: response.headers.get("idempotent-replayed") === "true",
    body: text,
    json: () => JSON.parse(text) as { run: number; recovered: boolean },
  };
}

beforeAll(async () => {
  for (const backend of backends) configs.set(backend.name, await backend.setUp());
  const config: SkewWorkerConfig = {
    stores: [...configs.values()],
    lease: LEASE,
    ttl: TTL,
    shortTtl: SHORT_TTL,
    storeTimeout: STORE_TIMEOUT,
  };
  await Promise.all(
    SKEWS.map(async (skew) => {
      const child = fork(worker, [], {
        execArgv: ["--import", "tsx", "--import", clock],
        env: { ...process.env, ONCELY_CLOCK_SKEW_MS: String(skew), ONCELY_SKEW_WORKER: JSON.stringify(config) },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      children.push(child);
      const [{ port, now }] = (await once(child, "message")) as [{ port: number; now: number }];
      // The child's clock really is off by its skew.
      expect(Math.abs(now - Date.now() - skew)).toBeLessThan(1_000);
      origins.set(skew, `http://127.0.0.1:${port}`);
    }),
  );
  // First use opens each child's connections (and detects MariaDB's dialect): not part of what is measured.
  for (const skew of SKEWS) {
    for (const { kind } of configs.values()) await post(skew, kind, `warm-up-${randomUUID()}`);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill();
      await exited;
    }),
  );
  for (const backend of backends) await backend.tearDown().catch(() => {});
  if (figures.length > 0) console.table(figures);
});

/** The true-clock engine for one store, whose holds never renew. */
async function trueClockApp(backend: Backend, ttl = TTL): Promise<CountingApp> {
  const store = frozen(openStore(configs.get(backend.name)!, STORE_TIMEOUT));
  return startCountingApp(store, { storeTimeout: STORE_TIMEOUT, lease: LEASE, ttl });
}

for (const backend of backends.filter((b) => b.name !== "dynamodb (dynalite)")) {
  describe(`clock skew: ${backend.name} judges time by the server's clock`, () => {
    const kind = () => configs.get(backend.name)!.kind;
    let app: CountingApp;
    let shortApp: CountingApp;
    beforeAll(async () => {
      app = await trueClockApp(backend);
      shortApp = await trueClockApp(backend, SHORT_TTL);
    });
    afterAll(async () => {
      await app?.close();
      await shortApp?.close();
    });

    it("an engine 5 s ahead or behind does not take over a live lease; after it lapses one behind takes it over", async () => {
      const key = `lease-${randomUUID()}`;
      const hold = app.hold(key);
      const first = app.send("/guarded", key).catch((error: Error) => error);
      await hold.started;
      const claimed = performance.now();
      // A caller-clock store would see this lease as lapsed from the +5 s clock.
      expect((await post(5_000, kind(), key)).status).toBe(409);
      expect((await post(-5_000, kind(), key)).status).toBe(409);
      const refusedBy = performance.now() - claimed;
      await sleep(Math.max(0, LEASE + MARGIN - (performance.now() - claimed)));
      // A caller-clock store would still see 5 s of lease from the -5 s clock.
      const taken = await post(-5_000, kind(), key);
      expect(taken.status, taken.body).toBe(201);
      expect(taken.json()).toMatchObject({ run: 1, recovered: true });
      const takenAfter = performance.now() - claimed;
      // The +5 s engine replays the fresh record rather than calling it expired.
      const replay = await post(5_000, kind(), key);
      expect(replay.replayed).toBe(true);
      hold.release();
      await first;
      expect(app.events.some((event) => event.type === "fenced" && event.key === key)).toBe(true);
      figures.push({
        backend: backend.name,
        case: "live lease vs ±5 s",
        result: `409 from both at ${Math.round(refusedBy)} ms; taken over by -5 s at ${Math.round(takenAfter)} ms (lease ${LEASE})`,
      });
    });

    it("an engine 5 s behind does not serve a record past its TTL, one 5 s ahead still replays a live one", async () => {
      const key = `ttl-${randomUUID()}`;
      const done = await shortApp.send("/guarded", key);
      expect(done.status).toBe(201);
      const completed = performance.now();
      // A caller-clock store would see this record as expired from the +5 s clock.
      expect((await post(5_000, kind(), key, "short")).replayed).toBe(true);
      await sleep(Math.max(0, SHORT_TTL + MARGIN - (performance.now() - completed)));
      // ... and still live from the -5 s clock.
      const again = await post(-5_000, kind(), key, "short");
      expect(again.status).toBe(201);
      expect(again.replayed).toBe(false);
      expect(again.json()).toMatchObject({ run: 1, recovered: false });
      figures.push({
        backend: backend.name,
        case: "expiry vs ±5 s",
        result: `+5 s replayed at once; -5 s executed afresh ${Math.round(performance.now() - completed)} ms after completion (ttl ${SHORT_TTL})`,
      });
    });
  });
}

const dynamo = backends.find((b) => b.name === "dynamodb (dynalite)");
describe.skipIf(!dynamo)("clock skew: dynamodb uses the caller's clock (documented tolerance)", () => {
  let app: CountingApp;
  let shortApp: CountingApp;
  beforeAll(async () => {
    app = await trueClockApp(dynamo!);
    shortApp = await trueClockApp(dynamo!, SHORT_TTL);
  });
  afterAll(async () => {
    await app?.close();
    await shortApp?.close();
  });

  it("skew smaller than the lease (+1 s against 2 s) is safe: a live lease is not taken over", async () => {
    const key = `dyn-safe-${randomUUID()}`;
    const hold = app.hold(key);
    const first = app.send("/guarded", key).catch((error: Error) => error);
    await hold.started;
    const claimed = performance.now();
    expect((await post(1_000, "dynamodb", key)).status).toBe(409);
    // Up to the lease minus the skew (less a margin), the +1 s clock still sees the lease live.
    await sleep(Math.max(0, LEASE - 1_000 - MARGIN - (performance.now() - claimed)));
    const late = await post(1_000, "dynamodb", key);
    const lateAt = performance.now() - claimed;
    expect(late.status).toBe(409);
    hold.release();
    expect(await first).toMatchObject({ status: 201 });
    expect(app.events.some((event) => event.type === "executed" && event.key === key)).toBe(true);
    figures.push({
      backend: "dynamodb (dynalite)",
      case: "+1 s skew, 2 s lease",
      result: `409 at once and at ${Math.round(lateAt)} ms; the holder completed (not fenced)`,
    });
  });

  it("skew larger than the lease (+5 s against 2 s) lets a takeover happen early; the holder is fenced", async () => {
    const key = `dyn-early-${randomUUID()}`;
    const hold = app.hold(key);
    const first = app.send("/guarded", key).catch((error: Error) => error);
    await hold.started;
    const claimed = performance.now();
    const taken = await post(5_000, "dynamodb", key);
    const takenAt = performance.now() - claimed;
    expect(taken.status, taken.body).toBe(201);
    expect(taken.json()).toMatchObject({ recovered: true });
    expect(takenAt).toBeLessThan(LEASE);
    hold.release();
    await first;
    expect(app.events.some((event) => event.type === "fenced" && event.key === key)).toBe(true);
    figures.push({
      backend: "dynamodb (dynalite)",
      case: "+5 s skew, 2 s lease",
      result: `taken over ${Math.round(takenAt)} ms after the claim, ${Math.round(LEASE - takenAt)} ms before its lease lapsed; the holder's result fenced (handler ran twice)`,
    });
  });

  it("a clock behind by more than the time past the TTL (-5 s) still replays an expired record", async () => {
    const key = `dyn-ttl-${randomUUID()}`;
    expect((await shortApp.send("/guarded", key)).status).toBe(201);
    const completed = performance.now();
    await sleep(Math.max(0, SHORT_TTL + MARGIN - (performance.now() - completed)));
    const stale = await post(-5_000, "dynamodb", key, "short");
    const staleAt = performance.now() - completed;
    expect(stale.status).toBe(201);
    expect(stale.replayed).toBe(true);
    // The true clock sees it expired: the key is new again there.
    const fresh = await shortApp.send("/guarded", key);
    expect(fresh.headers.get("idempotent-replayed")).toBeNull();
    figures.push({
      backend: "dynamodb (dynalite)",
      case: "-5 s skew, 2 s ttl",
      result: `replayed ${Math.round(staleAt - SHORT_TTL)} ms past its TTL (bounded by the skew); the true-clock engine executed it afresh`,
    });
  });
});
