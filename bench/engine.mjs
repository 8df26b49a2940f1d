// oncely's engine without HTTP: what a new key and a replay cost when driven as an adapter drives it
// (`idem.route().begin()`, then the decision's `finish()`), in-process, no sockets, on the MemoryStore, on Redis (over
// ioredis, node-redis and iovalkey), on the Upstash store (over HTTP, through the REST test fixture before Redis), on
// libSQL (a local file) and on Durable Objects (the same loop inside a Worker on workerd, through Miniflare).
// Plain JavaScript over the built package (`npm run build`). Each figure is the best of several samples: contention on
// a shared machine only ever slows a sample down. Requests run one after another, so on Redis the wall time is round
// trips (the server's latency) and the CPU time is what oncely and the client spend in this process.
// `BENCH_STORES` (comma-separated: memory, redis, redis-node-redis, redis-iovalkey, upstash, libsql, durable-object)
// narrows a run. Prints a Markdown table and writes it into bench/RESULTS.md between its markers.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { cpuUsage } from "node:process";
import { fileURLToPath } from "node:url";
import { measureStore } from "./engine-loop.mjs";
import { createStore } from "./stores.mjs";

const samples = Number(process.env.BENCH_SAMPLES ?? 7);
/** The machine's load when the run starts: on a shared machine, what the wall times were measured under. */
const load = loadavg()[0].toFixed(1);
const perSample = {
  memory: 10_000,
  redis: 2_000,
  "redis-node-redis": 2_000,
  "redis-iovalkey": 2_000,
  upstash: 1_000,
  libsql: 1_000,
  "durable-object": 1_000,
};
const stores = (process.env.BENCH_STORES?.split(",") ?? Object.keys(perSample)).filter((name) => name in perSample);

/**
 * The Durable Object store's figures, from the same loop inside a Worker on workerd (Miniflare), the objects in the
 * same workerd process: a Worker has no process CPU clock, so only wall time is measured.
 */
async function inWorkerd(count) {
  const { build } = await import("esbuild");
  const { Miniflare } = await import("miniflare");
  const scriptPath = fileURLToPath(new URL("../.scratch/bench/engine-worker.js", import.meta.url));
  await build({
    entryPoints: [fileURLToPath(new URL("./engine-worker.mjs", import.meta.url))],
    outfile: scriptPath,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2023",
    conditions: ["workerd", "worker", "browser"],
    external: ["cloudflare:*"],
    logLevel: "error",
  });
  const worker = new Miniflare({
    modules: true,
    scriptPath,
    compatibilityDate: "2026-07-01",
    durableObjects: { IDEMPOTENCY: { className: "Idempotency", useSQLite: true } },
  });
  try {
    const answer = await worker.dispatchFetch("http://worker/", {
      method: "POST",
      body: JSON.stringify({ samples, count }),
    });
    if (!answer.ok) throw new Error(`the Worker answered ${answer.status}: ${await answer.text()}`);
    return await answer.json();
  } finally {
    await worker.dispose();
  }
}

const measured = [];
for (const name of stores) {
  const count = perSample[name];
  let figures;
  if (name === "durable-object") {
    figures = await inWorkerd(count).catch((error) => {
      console.log(`${name}: not available (${error.message}), skipped`);
    });
  } else {
    const opened = await createStore(name).catch((error) => {
      console.log(`${name}: not available (${error.message}), skipped`);
    });
    if (!opened) continue;
    try {
      figures = await measureStore(opened.store, { samples, count, cpuUsage });
    } finally {
      await opened.cleanup();
    }
  }
  if (!figures) continue;
  measured.push({ name, ...figures });
  console.log(name, JSON.stringify(figures));
}

// Each store's wall time against RedisStore's (over ioredis) in this same run: the figures that travel between machines.
const redis = measured.find((row) => row.name === "redis");
const cell = ({ wall, cpu }) => `${wall.toFixed(1)} | ${Number.isFinite(cpu) ? cpu.toFixed(1) : "n/a"}`;
const ratio = (row, kind) => (redis ? `${(row[kind].wall / redis[kind].wall).toFixed(2)}×` : "n/a");
const rows = measured.map(
  (row) =>
    `| ${row.name} | ${cell(row.newKeys)} | ${cell(row.replays)} | ${ratio(row, "newKeys")} | ${ratio(row, "replays")} |`,
);

const section = `<!-- engine -->
## The engine without HTTP (\`bench/engine.mjs\`)

\`node bench/engine.mjs\` on ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}, load average ${load} at the start: one request after
another through \`idem.route().begin()\` and the decision's \`finish()\`, as an adapter calls them, in-process (no
sockets, no framework), the best of ${samples} samples (${perSample.memory.toLocaleString("en")} requests each on the
MemoryStore, ${perSample.redis.toLocaleString("en")} on Redis at 127.0.0.1:6379 over each client,
${perSample.upstash.toLocaleString("en")} on the Upstash store). Wall µs per request, then the process's CPU µs per
request; on Redis the wall time is mostly the round trips. \`upstash\` is \`UpstashStore\` over HTTP to the REST test
fixture (test/support/upstash-rest.ts, a process of its own) before the same Redis: a local hop plus the fixture's
own forwarding, not Upstash's latency; its CPU column is what oncely, \`@upstash/redis\` and \`fetch\` spend here.
\`libsql\` is \`LibsqlStore\` on a local file (\`file:\`, WAL; ${perSample.libsql.toLocaleString("en")} requests a sample).
\`durable-object\` is the same loop inside a Worker on workerd (Miniflare, the objects in the same workerd process,
${perSample["durable-object"].toLocaleString("en")} requests a sample): a Worker has no process CPU clock, so its CPU
columns are n/a. The last two columns are each store's wall time over RedisStore's (ioredis) in this run.

| store | new key, wall µs | new key, CPU µs | replay, wall µs | replay, CPU µs | new key / redis | replay / redis |
| --- | --- | --- | --- | --- | --- | --- |
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
