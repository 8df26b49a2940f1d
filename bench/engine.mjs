// oncely's engine without HTTP: what a new key and a replay cost when driven as an adapter drives it
// (`idem.route().begin()`, then the decision's `finish()`), in-process, no sockets, on the MemoryStore, on Redis (over
// ioredis, node-redis and iovalkey) and on the Upstash store (over HTTP, through the REST test fixture before Redis).
// Plain JavaScript over the built package (`npm run build`). Each figure is the best of several samples: contention on
// a shared machine only ever slows a sample down. Requests run one after another, so on Redis the wall time is round
// trips (the server's latency) and the CPU time is what oncely and the client spend in this process.
// `BENCH_STORES` (comma-separated: memory, redis, redis-node-redis, redis-iovalkey, upstash) narrows a run. Prints a Markdown table and writes it into
// bench/RESULTS.md between its markers.
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpuUsage } from "node:process";
import { createIdempotency } from "../dist/index.js";
import { createStore } from "./stores.mjs";

const samples = 7;
const perSample = { memory: 10_000, redis: 2_000, "redis-node-redis": 2_000, "redis-iovalkey": 2_000, upstash: 1_000 };
const stores = (process.env.BENCH_STORES?.split(",") ?? Object.keys(perSample)).filter((name) => name in perSample);

const body = new TextEncoder().encode('{"amount":1000,"currency":"eur"}');
const response = { status: 201, headers: [["content-type", "application/json"]], body };

/** One request as an adapter hands it over, through the decision it gets; fails loudly on any other outcome. */
async function request(guard, key, expected) {
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

/** The best wall and CPU µs per request over the samples (each the least disturbed of its own kind). */
async function best(count, run) {
  let wall = Number.POSITIVE_INFINITY;
  let cpu = Number.POSITIVE_INFINITY;
  for (let sample = 0; sample < samples; sample++) {
    const startCpu = cpuUsage();
    const start = performance.now();
    for (let i = 0; i < count; i++) await run();
    wall = Math.min(wall, ((performance.now() - start) / count) * 1000);
    const used = cpuUsage(startCpu);
    cpu = Math.min(cpu, (used.user + used.system) / count);
  }
  return { wall, cpu };
}

const rows = [];
for (const name of stores) {
  const opened = await createStore(name).catch((error) => {
    console.log(`${name}: not available (${error.message}), skipped`);
  });
  if (!opened) continue;
  try {
    // Replays hammer one key on purpose, so the per-key rate limit is off, as in the HTTP benchmark.
    const idem = createIdempotency({ store: opened.store, rateLimit: false, ttl: "5m" });
    const guard = idem.route({ route: "POST /charges" });
    const count = perSample[name];
    // Warm-up, not counted: the first thousands of calls compile.
    for (let i = 0; i < count; i++) await request(guard, randomUUID(), "execute");
    await request(guard, "replayed-key", "execute");
    const newKeys = await best(count, () => request(guard, randomUUID(), "execute"));
    const replays = await best(count, () => request(guard, "replayed-key", "respond"));
    const cell = ({ wall, cpu }) => `${wall.toFixed(1)} | ${cpu.toFixed(1)}`;
    rows.push(`| ${name} | ${cell(newKeys)} | ${cell(replays)} |`);
    console.log(rows.at(-1));
  } finally {
    await opened.cleanup();
  }
}

const section = `<!-- engine -->
## The engine without HTTP (\`bench/engine.mjs\`)

\`node bench/engine.mjs\` on ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}: one request after
another through \`idem.route().begin()\` and the decision's \`finish()\`, as an adapter calls them, in-process (no
sockets, no framework), the best of ${samples} samples (${perSample.memory.toLocaleString("en")} requests each on the
MemoryStore, ${perSample.redis.toLocaleString("en")} on Redis at 127.0.0.1:6379 over each client,
${perSample.upstash.toLocaleString("en")} on the Upstash store). Wall µs per request, then the process's CPU µs per
request; on Redis the wall time is mostly the round trips. \`upstash\` is \`UpstashStore\` over HTTP to the REST test
fixture (test/support/upstash-rest.ts, a process of its own) before the same Redis: a local hop plus the fixture's
own forwarding, not Upstash's latency; its CPU column is what oncely, \`@upstash/redis\` and \`fetch\` spend here.

| store | new key, wall µs | new key, CPU µs | replay, wall µs | replay, CPU µs |
| --- | --- | --- | --- | --- |
${rows.join("\n")}
<!-- /engine -->`;

const results = new URL("./RESULTS.md", import.meta.url);
const previous = existsSync(results) ? readFileSync(results, "utf8") : "";
const marked = /<!-- engine -->[\s\S]*?<!-- \/engine -->/;
writeFileSync(
  results,
  marked.test(previous) ? previous.replace(marked, section) : `${previous.trimEnd()}\n${section}\n`,
);
console.log("written to bench/RESULTS.md");
process.exit(0);
