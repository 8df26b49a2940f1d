import { randomUUID } from "node:crypto";
import type { Answer, CountingApp } from "./counting-app.js";
import type { FaultMode, FaultProxy } from "./fault-proxy.js";
import { pass } from "./fault-proxy.js";

/** What one outage cycle measured, for the notes. */
export interface CycleFigures {
  mode: string;
  outageSeconds: number;
  /** Guarded requests answered during the outage (new keys and retries of completed ones), all 503. */
  requests: number;
  /** The slowest of those answers, ms. */
  slowestMs: number;
  /** From the end of the outage to the first request executed again, ms. */
  recoveryMs: number;
  /** Retries of outage keys after recovery answered 409 (a claim that landed late, waiting for its lease) or 503. */
  retried409: number;
  retried503: number;
  /** Keys executed after recovery (outage keys plus recovery probes): each exactly once. */
  keysExecutedAfter: number;
}

export const modeName = (mode: FaultMode | FaultMode[]): string =>
  Array.isArray(mode)
    ? mode.map(modeName).join(" then ")
    : mode.kind === "latency"
      ? `latency ${mode.ms} ms`
      : mode.kind;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The checks a 503 from a store outage must pass: problem+json, Retry-After, within the deadline. */
export function storeUnavailable(answer: Answer, deadlineMs: number): string | undefined {
  if (answer.status !== 503) return `status ${answer.status}: ${answer.body.slice(0, 200)}`;
  if (!answer.headers.get("content-type")?.startsWith("application/problem+json")) return "not problem+json";
  const retryAfter = Number(answer.headers.get("retry-after"));
  if (!(retryAfter >= 1)) return `Retry-After ${answer.headers.get("retry-after")}`;
  const type = (JSON.parse(answer.body) as { type?: string }).type ?? "";
  if (!/^urn:oncely:problem:store-(unavailable|timeout)$/.test(type)) return `problem type ${type}`;
  if (answer.ms > deadlineMs) return `answered after ${Math.round(answer.ms)} ms (limit ${deadlineMs})`;
  return undefined;
}

/**
 * Sends `key` until it is executed or replayed, tolerating 409 (a claim that landed after its request was answered
 * 503 holds the key until its lease lapses) and 503 (the store still reconnecting) until `deadline`.
 */
export async function settle(
  app: CountingApp,
  key: string,
  deadline: number,
): Promise<{ answer: Answer; conflicts: number; unavailable: number }> {
  let conflicts = 0;
  let unavailable = 0;
  for (;;) {
    const answer = await app.send("/guarded", key);
    if ((answer.status !== 409 && answer.status !== 503) || performance.now() > deadline) {
      return { answer, conflicts, unavailable };
    }
    if (answer.status === 409) conflicts++;
    else unavailable++;
    await sleep(50);
  }
}

/**
 * One outage: completes a few keys, switches the proxy to `mode` for `outageMs` while `concurrency` clients send new
 * keys (and retries of the completed ones), then heals it and checks recovery. Throws on the first broken promise.
 * Several modes run one after another, sharing `outageMs` (a black hole, then a reset: a partition TCP gave up on).
 */
export async function outageCycle(
  app: CountingApp,
  proxy: FaultProxy,
  mode: FaultMode | FaultMode[],
  limits: { outageMs: number; concurrency: number; answerMs: number; lease: number; recoveryMs: number },
): Promise<CycleFigures> {
  const tag = randomUUID().slice(0, 8);
  // Records completed before the outage: they must be replayed after it, byte for byte, and never run again.
  const before = new Map<string, string>();
  for (let i = 0; i < 3; i++) {
    const key = `before-${tag}-${i}`;
    const answer = await app.send("/guarded", key);
    if (answer.status !== 201) throw new Error(`${key} before the outage: ${answer.status} ${answer.body}`);
    before.set(key, answer.body);
  }
  const runsBefore = app.totalRuns();

  const phases = Array.isArray(mode) ? mode : [mode];
  proxy.set(phases[0]!);
  const started = performance.now();
  const switches = phases
    .slice(1)
    .map((next, i) => setTimeout(() => proxy.set(next), ((i + 1) * limits.outageMs) / phases.length));
  const outageKeys: string[] = [];
  const failures: string[] = [];
  let requests = 0;
  let slowestMs = 0;
  await Promise.all(
    Array.from({ length: limits.concurrency }, async (_, worker) => {
      for (let n = 0; performance.now() - started < limits.outageMs; n++) {
        const retry = n % 4 === 3;
        const key = retry ? [...before.keys()][n % before.size]! : `outage-${tag}-${worker}-${n}`;
        if (!retry) outageKeys.push(key);
        const answer = await app.send("/guarded", key);
        requests++;
        slowestMs = Math.max(slowestMs, answer.ms);
        const problem = storeUnavailable(answer, limits.answerMs);
        if (problem) failures.push(`${key}: ${problem}`);
      }
    }),
  );
  const runsDuring = app.totalRuns() - runsBefore;
  for (const timer of switches) clearTimeout(timer);
  proxy.set(pass);
  const healed = performance.now();
  const outageSeconds = (healed - started) / 1000;
  if (failures.length > 0) {
    throw new Error(`${modeName(mode)}: ${failures.length} of ${requests} answers broke: ${failures.slice(0, 5)}`);
  }
  if (runsDuring !== 0) throw new Error(`${modeName(mode)}: the handler ran ${runsDuring} times during the outage`);

  // Recovery: a new key every 50 ms until one executes; a store that never gets there is a bug.
  const probes: string[] = [];
  let recoveryMs = -1;
  while (performance.now() - healed < limits.recoveryMs) {
    const key = `probe-${tag}-${probes.length}`;
    probes.push(key);
    const answer = await app.send("/guarded", key);
    if (answer.status === 201) {
      recoveryMs = performance.now() - healed;
      break;
    }
    await sleep(50);
  }
  if (recoveryMs < 0) {
    throw new Error(`${modeName(mode)}: the store did not recover within ${limits.recoveryMs} ms of the outage`);
  }

  // No lost records: everything completed before the outage replays.
  for (const [key, body] of before) {
    const answer = await app.send("/guarded", key);
    if (answer.status !== 201 || answer.headers.get("idempotent-replayed") !== "true" || answer.body !== body) {
      throw new Error(`${key} completed before the outage was not replayed: ${answer.status} ${answer.body}`);
    }
    if (app.runs(key) !== 1) throw new Error(`${key} ran ${app.runs(key)} times`);
  }

  // No stuck keys: each outage key executes exactly once (after any late claim's lease), then replays.
  const deadline = performance.now() + limits.lease + 3_000 + outageKeys.length * 50;
  let retried409 = 0;
  let retried503 = 0;
  // Four clients retrying at a time, as after a real outage: all of them at once would overload the store's pool
  // (ten connections) past the store timeout, and a `complete` that times out lets the key run again.
  const settled: Awaited<ReturnType<typeof settle>>[] = [];
  for (let i = 0; i < outageKeys.length; i += limits.concurrency) {
    const batch = outageKeys.slice(i, i + limits.concurrency);
    settled.push(...(await Promise.all(batch.map((key) => settle(app, key, deadline)))));
  }
  for (const [i, { answer, conflicts, unavailable }] of settled.entries()) {
    retried409 += conflicts;
    retried503 += unavailable;
    if (answer.status !== 201) throw new Error(`${outageKeys[i]} is stuck: ${answer.status} ${answer.body}`);
  }
  for (const key of [...outageKeys, ...probes]) {
    const expected = probes.includes(key) && key !== probes.at(-1) ? 0 : 1;
    if (app.runs(key) > 1 || (expected === 1 && app.runs(key) !== 1)) {
      throw new Error(`${key} ran ${app.runs(key)} times after recovery`);
    }
    if (app.runs(key) === 0) continue;
    const replay = await app.send("/guarded", key);
    if (replay.status !== 201 || replay.headers.get("idempotent-replayed") !== "true") {
      throw new Error(`${key} was not replayed after it executed: ${replay.status} ${replay.body}`);
    }
  }
  return {
    mode: modeName(mode),
    outageSeconds,
    requests,
    slowestMs,
    recoveryMs,
    retried409,
    retried503,
    keysExecutedAfter: outageKeys.length + 1,
  };
}
