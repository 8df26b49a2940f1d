import { type ChildProcess, fork, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import autocannon from "autocannon";

/**
 * Throughput of the same app bare and behind oncely, for new keys and for replays: on the memory store through
 * Express and Hono, then on every durable store through Express. Measured in one run so the ratios compare like with
 * like (load generator and server share the machine's cores). `BENCH_DURATION` (seconds per measurement, default 8)
 * and `BENCH_STORES` (comma-separated, default all) narrow a run.
 */
const duration = Number(process.env.BENCH_DURATION ?? 8);
const connections = 50;
const body = JSON.stringify({ amount: 1000, currency: "eur" });
const durableStores = ["sqlite", "redis", "postgres", "mysql", "dynamodb"] as const;
const chosen = new Set(process.env.BENCH_STORES?.split(",") ?? ["memory", ...durableStores]);

type Mode = "new keys" | "replays";
type Framework = "express" | "hono";
type StoreName = "memory" | (typeof durableStores)[number];

const services: Partial<Record<StoreName, number>> = { redis: 6379, postgres: 5432, mysql: 3306 };

async function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, timeout: 1000 });
    socket.once("connect", () => resolve(Boolean(socket.destroy())));
    socket.once("timeout", () => resolve(Boolean(socket.destroy()) && false));
    socket.once("error", () => resolve(false));
  });
}

interface Measurement {
  rate: number;
  /** Non-2xx answers and socket errors: reported in the results, never hidden. */
  failures: number;
}

async function measure(framework: Framework, store: StoreName | "bare", mode?: Mode): Promise<Measurement> {
  const port = 40_000 + Math.floor(Math.random() * 10_000);
  const child = fork(new URL("./server.mjs", import.meta.url).pathname, [framework, store, String(port)], {
    env: { ...process.env, BENCH_DYNAMODB_ENDPOINT: dynamodbEndpoint },
  });
  await once(child, "message");
  const replayKey = randomUUID();
  const headers = { "content-type": "application/json" };
  // The replay key's first request runs alone: 50 connections starting at once would otherwise meet it in flight.
  if (mode === "replays") {
    await fetch(`http://127.0.0.1:${port}/charges`, {
      method: "POST",
      headers: { ...headers, "idempotency-key": replayKey },
      body,
    });
  }
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
  // The server drops its tables and files on disconnect; wait for that before the next measurement starts.
  child.disconnect();
  await once(child, "exit");
  return { rate: result.requests.average, failures: result.errors + result.non2xx };
}

/** dynalite (a local DynamoDB) in its own process, so it does not share the load generator's event loop. */
async function startDynalite(): Promise<{ endpoint: string; process: ChildProcess }> {
  const port = 30_000 + Math.floor(Math.random() * 10_000);
  const script = `require("dynalite")({ createTableMs: 0, deleteTableMs: 0 }).listen(${port}, "127.0.0.1", () => console.log("ready"))`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  await once(child.stdout!, "data");
  return { endpoint: `http://127.0.0.1:${port}`, process: child };
}

const ratio = ({ rate, failures }: Measurement, bare: Measurement) =>
  `${rate.toFixed(0)} (${(rate / bare.rate).toFixed(2)}x)${failures ? `, ${failures} failed` : ""}`;
const frameworkRows: string[] = [];
const storeRows: string[] = [];
let dynamodbEndpoint = "";
let dynalite: ChildProcess | undefined;

const bare: Partial<Record<Framework, Measurement>> = {};
for (const framework of ["express", "hono"] as const) {
  bare[framework] = await measure(framework, "bare");
  if (!chosen.has("memory")) continue;
  const fresh = await measure(framework, "memory", "new keys");
  const replays = await measure(framework, "memory", "replays");
  const line = `| ${framework} | ${bare[framework]!.rate.toFixed(0)} | ${ratio(fresh, bare[framework]!)} | ${ratio(replays, bare[framework]!)} |`;
  console.log(line);
  frameworkRows.push(line);
}

for (const store of durableStores) {
  if (!chosen.has(store)) continue;
  const port = services[store];
  if (port !== undefined && !(await reachable(port))) {
    console.log(`${store}: not reachable on 127.0.0.1:${port}, skipped`);
    storeRows.push(`| ${store} | not reachable, skipped | |`);
    continue;
  }
  if (store === "dynamodb") {
    const started = await startDynalite();
    dynamodbEndpoint = started.endpoint;
    dynalite = started.process;
  }
  const fresh = await measure("express", store, "new keys");
  const replays = await measure("express", store, "replays");
  const line = `| ${store} | ${ratio(fresh, bare.express!)} | ${ratio(replays, bare.express!)} |`;
  console.log(line);
  storeRows.push(line);
}
dynalite?.kill();

const report = `# Benchmark results

\`npm run bench\` on ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}, ${connections} connections,
${duration} s per run, autocannon and the app on the same 2-core machine (compare the ratios, not the absolute
figures). A failure count follows any run that had non-2xx answers or socket errors. "new keys" sends a fresh Idempotency-Key per request (claim + complete), "replays" sends one key throughout
(answered from the store). Requests per second, average; the ratio is to the bare app of the same framework.

## Adapters, on the memory store

| app | bare | oncely, new keys | oncely, replays |
| --- | --- | --- | --- |
${frameworkRows.join("\n")}

## Stores, through Express (bare Express: ${bare.express!.rate.toFixed(0)} req/s)

The durable stores run on the local servers (PostgreSQL 15, MariaDB 10.11, Redis 7, SQLite in WAL mode on the local
disk, dynalite for DynamoDB: a single-threaded emulator, far slower than DynamoDB itself).

| store | oncely, new keys | oncely, replays |
| --- | --- | --- |
${storeRows.join("\n")}
`;
// Sections other benchmarks write between their own markers (bench/otel.ts: `<!-- otel -->`) are kept.
const results = new URL("./RESULTS.md", import.meta.url);
const previous = existsSync(results) ? readFileSync(results, "utf8") : "";
const kept = previous.match(/<!-- (\w+) -->[\s\S]*?<!-- \/\1 -->/g) ?? [];
writeFileSync(results, [report, ...kept].join("\n") + (kept.length ? "\n" : ""));
console.log("\nwritten to bench/RESULTS.md");
