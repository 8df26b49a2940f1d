// The loop bench/engine.mjs times, shared with the Worker it runs on workerd (bench/engine-worker.mjs) and with
// bench/engine-instructions.mjs: one request after another through `idem.route().begin()` and the decision's
// `finish()`, as an adapter drives the engine.
import { createIdempotency } from "../dist/index.js";

const body = new TextEncoder().encode('{"amount":1000,"currency":"eur"}');
const response = { status: 201, headers: [["content-type", "application/json"]], body };

/** One request as an adapter hands it over, through the decision it gets; fails loudly on any other outcome. */
export async function request(guard, key, expected) {
  const decision = await guard.begin({
    method: "POST",
    path: "/charges",
    query: "",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body,
    raw: undefined,
  });
  if (decision.action !== expected) throw new Error(`expected ${expected}, got ${decision.action}`);
  if (decision.action === "execute") await decision.finish(response);
}

/**
 * The best wall and CPU µs per request over `samples` samples of `count` requests (each the least disturbed of its
 * own kind). `cpuUsage` is node:process's; without one (a Worker has no process clock) the CPU figure is NaN.
 */
async function best(samples, count, run, cpuUsage) {
  let wall = Number.POSITIVE_INFINITY;
  let cpu = Number.POSITIVE_INFINITY;
  for (let sample = 0; sample < samples; sample++) {
    const startCpu = cpuUsage?.();
    const start = performance.now();
    for (let i = 0; i < count; i++) await run();
    wall = Math.min(wall, ((performance.now() - start) / count) * 1000);
    const used = cpuUsage ? cpuUsage(startCpu) : { user: Number.NaN, system: 0 };
    cpu = Math.min(cpu, (used.user + used.system) / count);
  }
  return { wall, cpu };
}

/** A new key's and a replay's best cost on `store`, after a warm-up of `count` new keys (the first thousands compile). */
export async function measureStore(store, { samples, count, cpuUsage }) {
  const guard = benchGuard(store);
  for (let i = 0; i < count; i++) await request(guard, crypto.randomUUID(), "execute");
  await request(guard, "replayed-key", "execute");
  const newKeys = await best(samples, count, () => request(guard, crypto.randomUUID(), "execute"), cpuUsage);
  const replays = await best(samples, count, () => request(guard, "replayed-key", "respond"), cpuUsage);
  return { newKeys, replays };
}

/** The route every engine benchmark drives. */
export function benchGuard(store) {
  // Replays hammer one key on purpose, so the per-key rate limit is off, as in the HTTP benchmark.
  const idem = createIdempotency({ store, rateLimit: false, ttl: "5m" });
  return idem.route({ route: "POST /charges" });
}
