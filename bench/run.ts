import { fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import autocannon from "autocannon";

/**
 * Throughput of the same app bare and behind oncely (memory store), for new keys and for replays, measured in one
 * run so the ratios compare like with like (load generator and server share the machine's cores).
 */
const duration = Number(process.env.BENCH_DURATION ?? 8);
const connections = 50;
const body = JSON.stringify({ amount: 1000, currency: "eur" });

type Mode = "bare" | "new keys" | "replays";

type Framework = "express" | "hono";

async function measure(framework: Framework, mode: Mode): Promise<number> {
  const port = 40_000 + Math.floor(Math.random() * 10_000);
  const child = fork(new URL("./server.mjs", import.meta.url).pathname, [
    framework,
    mode === "bare" ? "bare" : "oncely",
    String(port),
  ]);
  await once(child, "message");
  const replayKey = randomUUID();
  const headers = { "content-type": "application/json" };
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/charges`,
    method: "POST",
    connections,
    duration,
    body,
    headers,
    requests: [
      {
        setupRequest: (request) => ({
          ...request,
          headers: {
            ...headers,
            ...(mode === "new keys" ? { "idempotency-key": randomUUID() } : {}),
            ...(mode === "replays" ? { "idempotency-key": replayKey } : {}),
          },
        }),
      },
    ],
  });
  child.disconnect();
  child.kill();
  const errors = result.errors + result.non2xx;
  if (errors > 0) throw new Error(`${framework} ${mode}: ${errors} errors or non-2xx answers`);
  return result.requests.average;
}

const rows: string[] = [];
for (const framework of ["express", "hono"] as const) {
  const bare = await measure(framework, "bare");
  const fresh = await measure(framework, "new keys");
  const replays = await measure(framework, "replays");
  const line = `| ${framework} | ${bare.toFixed(0)} | ${fresh.toFixed(0)} (${(fresh / bare).toFixed(2)}x) | ${replays.toFixed(0)} (${(replays / bare).toFixed(2)}x) |`;
  console.log(line);
  rows.push(line);
}

const report = `# Benchmark results

\`npm run bench\` on ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}, ${connections} connections,
${duration} s per run, autocannon and the app on the same 2-core machine (compare the ratios, not the absolute
figures). oncely uses the memory store; "new keys" sends a fresh Idempotency-Key per request (claim + complete),
"replays" sends one key throughout (answered from the store). Requests per second, average:

| app | bare | oncely, new keys | oncely, replays |
| --- | --- | --- | --- |
${rows.join("\n")}
`;
writeFileSync(new URL("./RESULTS.md", import.meta.url), report);
console.log("\nwritten to bench/RESULTS.md");
