/**
 * Store outages (issue 8): a fault-injecting TCP proxy (support/fault-proxy.ts) sits between oncely and each
 * networked store (Redis through ioredis, PostgreSQL through pg, MariaDB through mysql2), and a real HTTP server
 * (oncely/node) with a handler that counts its runs sits in front. Each store is opened from a URL pointing at the
 * proxy, so the store's own driver settings (reconnects, pools, connect timeouts) are part of what is tested.
 *
 * During black-hole, reset and added-latency outages every guarded request must be answered 503 problem+json with
 * Retry-After within `storeTimeout` plus SLACK_MS, and the handler must not run; with `failOpen` it runs and a
 * `store-error` event is emitted; after the proxy heals nothing is stuck or lost. Figures go to the console and to
 * $TMPDIR/oncely-outage-figures.json (for /work/notes/reliability-outage.md).
 */
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serviceAvailable } from "../support/services.js";
import { sized, soak, soakMillis } from "./budget.js";
import { type CountingApp, startCountingApp } from "./support/counting-app.js";
import {
  blackHole,
  type FaultMode,
  type FaultProxy,
  latency,
  pass,
  reset,
  startFaultProxy,
} from "./support/fault-proxy.js";
import { networkedBackends } from "./support/networked-stores.js";
import { type CycleFigures, modeName, outageCycle, settle, sleep, storeUnavailable } from "./support/outage-cycle.js";

const STORE_TIMEOUT = 400;
/**
 * What an answer may take beyond `storeTimeout`: the HTTP round trip, reading the body, timer lateness on a loaded
 * 2-core machine (other tests and the database servers share it).
 */
const SLACK_MS = 400;
const ANSWER_MS = STORE_TIMEOUT + SLACK_MS;
const LEASE = 1_500;
const limits = {
  outageMs: sized(1_500, 3_000),
  concurrency: 4,
  answerMs: ANSWER_MS,
  lease: LEASE,
  recoveryMs: 10_000,
};
/** Latency added per chunk each way: a round trip then takes twice the store timeout. */
const modes: FaultMode[] = [blackHole, reset, latency(STORE_TIMEOUT)];
/** This file's share of a soak run, split between the three stores. */
const SOAK_SHARE = 0.25;

const figures: Record<string, unknown>[] = [];
afterAll(() => {
  if (figures.length === 0) return;
  console.table(figures);
  writeFileSync(join(tmpdir(), "oncely-outage-figures.json"), JSON.stringify({ soak, figures }, null, 2));
});

describe("fault proxy", () => {
  it("passes, black-holes (holding bytes until healed), resets and delays traffic", async () => {
    const echo = createServer((socket) => {
      socket.on("error", () => {});
      socket.pipe(socket);
    });
    echo.listen(0, "127.0.0.1");
    await once(echo, "listening");
    const proxy = await startFaultProxy({ host: "127.0.0.1", port: (echo.address() as { port: number }).port });
    const { connect } = await import("node:net");
    const client = connect({ host: proxy.host, port: proxy.port });
    const received: string[] = [];
    client.on("data", (chunk) => received.push(chunk.toString()));
    await once(client, "connect");
    const roundTrip = async (text: string) => {
      const start = performance.now();
      received.length = 0;
      client.write(text);
      await expect.poll(() => received.join(""), { timeout: 3000, interval: 5 }).toBe(text);
      return performance.now() - start;
    };
    expect(await roundTrip("a")).toBeLessThan(200);
    proxy.set(latency(150));
    expect(await roundTrip("b")).toBeGreaterThanOrEqual(295);
    proxy.set(blackHole);
    received.length = 0;
    client.write("c");
    await sleep(300);
    expect(received).toEqual([]);
    proxy.set(pass);
    await expect.poll(() => received.join("")).toBe("c");
    // events.once would reject on the reset's "error"; only the close matters here.
    client.on("error", () => {});
    const closed = new Promise((resolve) => client.once("close", resolve));
    proxy.set(reset);
    await closed;
    const late = connect({ host: proxy.host, port: proxy.port });
    const error = await new Promise<Error | undefined>((resolve) => {
      late.on("error", resolve);
      late.on("close", () => resolve(undefined));
    });
    expect(error === undefined || /ECONNRESET|EPIPE/.test(error.message)).toBe(true);
    expect(proxy.stats().reset).toBeGreaterThanOrEqual(2);
    await proxy.close();
    echo.close();
  });
});

for (const backend of networkedBackends()) {
  const available = await serviceAvailable(backend.service);
  describe.skipIf(!available)(`store outage: ${backend.name}`, () => {
    let proxy: FaultProxy;
    let app: CountingApp;
    const record = (test: string, row: Omit<CycleFigures, "mode"> & { mode: string }) =>
      figures.push({ backend: backend.name, test, ...row });

    beforeAll(async () => {
      await backend.setUp();
      proxy = await startFaultProxy(backend.target);
      app = await startCountingApp(backend.open(proxy, STORE_TIMEOUT), { storeTimeout: STORE_TIMEOUT, lease: LEASE });
    });
    afterAll(async () => {
      // Bounded: see the close() test below.
      await Promise.race([app?.close(), sleep(5_000)]);
      await proxy?.close();
      await backend.tearDown();
    });

    for (const mode of modes) {
      it(`${modeName(mode)}: 503 within the store timeout, handler not run; after recovery nothing stuck or lost`, async () => {
        record("outage cycle", await outageCycle(app, proxy, mode, limits));
      });
    }

    it("a long partition (black-hole, then reset as TCP gives up, then pass): the same, and it recovers", async () => {
      record("outage cycle", await outageCycle(app, proxy, [blackHole, reset], limits));
    });

    for (const mode of [blackHole, reset]) {
      it(`failOpen during ${modeName(mode)}: the handler runs and store-error is emitted`, async () => {
        proxy.set(mode);
        const started = performance.now();
        const keys = Array.from({ length: 8 }, (_, i) => `open-${randomUUID()}-${i}`);
        const answers = await Promise.all(keys.map((key) => app.send("/open", key)));
        proxy.set(pass);
        for (const [i, answer] of answers.entries()) {
          expect(answer.status, answer.body).toBe(201);
          expect(answer.ms).toBeLessThanOrEqual(ANSWER_MS);
          expect(app.runs(keys[i]!)).toBe(1);
          expect(app.events.some((event) => event.type === "store-error" && event.key === keys[i])).toBe(true);
        }
        record(`failOpen`, {
          mode: modeName(mode),
          outageSeconds: (performance.now() - started) / 1000,
          requests: keys.length,
          slowestMs: Math.max(...answers.map((answer) => answer.ms)),
          recoveryMs: 0,
          retried409: 0,
          retried503: 0,
          keysExecutedAfter: 0,
        });
        // Let late claims from the black hole land and lapse before the next test.
        await sleep(LEASE);
      });
    }

    it("a claim in flight when the store resets lapses with its lease and is taken over, once", async () => {
      const key = `inflight-${randomUUID()}`;
      const hold = app.hold(key);
      const claimedAt = performance.now();
      const first = app.send("/guarded", key);
      await hold.started;
      proxy.set(reset);
      const outageStarted = performance.now();
      await sleep(200);
      hold.release();
      // The store never learns the outcome: the first caller still gets it (the work was done), and the
      // `complete` failure is an event.
      const answer = await first;
      expect(answer.status).toBe(201);
      expect(app.events.some((e) => e.type === "store-error" && e.key === key && e.reason === "complete failed")).toBe(
        true,
      );
      await sleep(600);
      proxy.set(pass);
      const outageSeconds = (performance.now() - outageStarted) / 1000;
      const { answer: taken, conflicts, unavailable } = await settle(app, key, performance.now() + LEASE + 5_000);
      const takenAt = performance.now();
      expect(taken.status, taken.body).toBe(201);
      expect(JSON.parse(taken.body)).toMatchObject({ run: 2, recovered: true });
      // Never before the lease the claim took (renewals only push it later).
      expect(takenAt - claimedAt).toBeGreaterThanOrEqual(LEASE);
      expect(app.events.some((e) => e.type === "recovered" && e.key === key)).toBe(true);
      const replay = await app.send("/guarded", key);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(app.runs(key)).toBe(2);
      record("in-flight claim through a reset", {
        mode: "reset",
        outageSeconds,
        requests: 1 + conflicts + unavailable,
        slowestMs: answer.ms,
        recoveryMs: takenAt - outageStarted - outageSeconds * 1000,
        retried409: conflicts,
        retried503: unavailable,
        keysExecutedAfter: 1,
      });
    });

    it("a connection that dies silently (sever): 503 within the store timeout until the store drops it, then nothing stuck", async () => {
      const warm = await app.send("/guarded", `sever-warm-${randomUUID()}`);
      expect(warm.status).toBe(201);
      proxy.sever();
      const severed = performance.now();
      const failed: string[] = [];
      const broken: string[] = [];
      let recoveryMs = -1;
      let requests = 0;
      let slowestMs = 0;
      while (performance.now() - severed < limits.recoveryMs) {
        const keys = Array.from({ length: 4 }, (_, i) => `sever-${randomUUID()}-${i}`);
        const answers = await Promise.all(keys.map((key) => app.send("/guarded", key)));
        requests += answers.length;
        for (const [i, answer] of answers.entries()) {
          slowestMs = Math.max(slowestMs, answer.ms);
          if (answer.status === 201) continue;
          failed.push(keys[i]!);
          const problem = storeUnavailable(answer, ANSWER_MS);
          if (problem) broken.push(`${keys[i]}: ${problem}`);
        }
        if (answers.every((answer) => answer.status === 201)) {
          recoveryMs = performance.now() - severed;
          break;
        }
      }
      expect(broken).toEqual([]);
      expect(recoveryMs, "the store never recovered from the severed connection").toBeGreaterThanOrEqual(0);
      let retried409 = 0;
      let retried503 = 0;
      for (const key of failed) {
        expect(app.runs(key)).toBe(0);
        const { answer, conflicts, unavailable } = await settle(app, key, performance.now() + LEASE + 3_000);
        retried409 += conflicts;
        retried503 += unavailable;
        expect(answer.status, answer.body).toBe(201);
        expect(app.runs(key)).toBe(1);
        expect((await app.send("/guarded", key)).headers.get("idempotent-replayed")).toBe("true");
      }
      record("severed connection", {
        mode: "sever (existing connections dead, new ones pass)",
        outageSeconds: recoveryMs / 1000,
        requests,
        slowestMs,
        recoveryMs,
        retried409,
        retried503,
        keysExecutedAfter: failed.length,
      });
    });

    it.skipIf(!soak)("soak: outage cycles through every mode for this store's share of the minutes", async () => {
      const until = performance.now() + soakMillis(SOAK_SHARE / 3);
      const cycleModes = [...modes, latency(STORE_TIMEOUT * 2)];
      const totals = new Map<string, { cycles: number } & Omit<CycleFigures, "mode">>();
      for (let cycle = 0; performance.now() < until; cycle++) {
        const mode = cycleModes[cycle % cycleModes.length]!;
        const row = await outageCycle(app, proxy, mode, limits);
        const total = totals.get(row.mode) ?? {
          cycles: 0,
          outageSeconds: 0,
          requests: 0,
          slowestMs: 0,
          recoveryMs: 0,
          retried409: 0,
          retried503: 0,
          keysExecutedAfter: 0,
        };
        total.cycles++;
        total.outageSeconds += row.outageSeconds;
        total.requests += row.requests;
        total.slowestMs = Math.max(total.slowestMs, row.slowestMs);
        total.recoveryMs = Math.max(total.recoveryMs, row.recoveryMs);
        total.retried409 += row.retried409;
        total.retried503 += row.retried503;
        total.keysExecutedAfter += row.keysExecutedAfter;
        totals.set(row.mode, total);
      }
      for (const [mode, total] of totals) figures.push({ backend: backend.name, test: "soak", mode, ...total });
    });

    // A statement the network swallowed is given up after 3x the store timeout (3 s at least): PostgreSQL through
    // pg's query_timeout, MariaDB by destroying the statement's own pooled connection. Either way close() finishes.
    it("close() finishes within 4 s after a severed connection", async () => {
      proxy.sever();
      await app.send("/guarded", `sever-close-${randomUUID()}`);
      const closed = await Promise.race([app.close().then(() => true), sleep(4_000).then(() => false)]);
      expect(closed).toBe(true);
    });
  });
}
