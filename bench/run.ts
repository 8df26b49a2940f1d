import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { cpuMicroseconds, median, postLoad, serverLauncher } from "./measure.js";

/**
 * Throughput of the same app bare and behind oncely, for new keys and for replays: on the memory store through
 * Express and Hono, then on every durable store through Express, then the other idempotency libraries on npm through
 * Express on their in-memory stores. Every configuration is measured once per round, the
 * rounds interleaved, and the tables show medians: the load generator and the server share the machine's cores, and
 * the machine's other load changes from minute to minute. `BENCH_DURATION` (seconds per measurement, default 8),
 * `BENCH_ROUNDS` (default 3) and `BENCH_STORES` (comma-separated, default all; "others" for the other libraries)
 * narrow a run.
 */
const duration = Number(process.env.BENCH_DURATION ?? 8);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const warmUp = 2;
const connections = 50;
const body = JSON.stringify({ amount: 1000, currency: "eur" });
const durableStores = ["sqlite", "redis", "postgres", "mysql", "dynamodb"] as const;
const chosen = new Set(process.env.BENCH_STORES?.split(",") ?? ["memory", ...durableStores, "others"]);
// Plain JavaScript, as server.mjs loads it; only the names are needed here.
const librariesModule: string = "./other-libraries.mjs";
const { otherLibraries } = (await import(librariesModule)) as { otherLibraries: Record<string, unknown> };
const libraries = chosen.has("others") ? Object.keys(otherLibraries) : [];
const launcher = serverLauncher();

type Mode = "new keys" | "replays";
type Framework = "express" | "hono";
type StoreName = "memory" | (typeof durableStores)[number];
/** What guards the app: nothing ("bare"), oncely on a store, or another library (bench/other-libraries.mjs). */
type Guard = StoreName | "bare" | (string & {});

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
  /** The server process's CPU time per request, µs. */
  cpu: number;
  /** Non-2xx answers and socket errors: reported in the results, never hidden. */
  failures: number;
}

async function measure(framework: Framework, guard: Guard, mode?: Mode): Promise<Measurement> {
  const child = launcher.start(new URL("./server.mjs", import.meta.url).pathname, [framework, guard], {
    ...process.env,
    BENCH_DYNAMODB_ENDPOINT: dynamodbEndpoint,
  });
  const [{ port }] = (await once(child, "message")) as [{ port: number }];
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
  const key = () => (mode === "new keys" ? randomUUID() : mode === "replays" ? replayKey : undefined);
  const load = (seconds: number) =>
    postLoad({ url: `http://127.0.0.1:${port}/charges`, body, connections, seconds, key });
  // Not counted: a fresh process spends its first thousands of requests compiling.
  await load(warmUp);
  const before = cpuMicroseconds(child.pid!);
  const result = await load(duration);
  const cpu = (cpuMicroseconds(child.pid!) - before) / Math.max(1, result.requests.total);
  // The server drops its tables and files on disconnect; wait for that before the next measurement starts.
  child.disconnect();
  await once(child, "exit");
  return { rate: result.requests.average, cpu, failures: result.errors + result.non2xx };
}

/** dynalite (a local DynamoDB) in its own process, so it does not share the load generator's event loop. */
async function startDynalite(): Promise<{ endpoint: string; process: ChildProcess }> {
  const port = 30_000 + Math.floor(Math.random() * 10_000);
  const script = `require("dynalite")({ createTableMs: 0, deleteTableMs: 0 }).listen(${port}, "127.0.0.1", () => console.log("ready"))`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  await once(child.stdout!, "data");
  return { endpoint: `http://127.0.0.1:${port}`, process: child };
}

let dynamodbEndpoint = "";
let dynalite: ChildProcess | undefined;
const cells = new Map<string, Measurement[]>();
const record = (cell: string, measured: Measurement) => {
  cells.set(cell, [...(cells.get(cell) ?? []), measured]);
  const failed = measured.failures ? `, ${measured.failures} failed` : "";
  console.log(`${cell}: ${measured.rate.toFixed(0)} req/s, ${measured.cpu.toFixed(0)} µs CPU/request${failed}`);
};

const storesToRun: StoreName[] = [];
for (const store of durableStores) {
  if (!chosen.has(store)) continue;
  const port = services[store];
  if (port !== undefined && !(await reachable(port))) {
    console.log(`${store}: not reachable on 127.0.0.1:${port}, skipped`);
    continue;
  }
  storesToRun.push(store);
}
if (storesToRun.includes("dynamodb")) {
  const started = await startDynalite();
  dynamodbEndpoint = started.endpoint;
  dynalite = started.process;
}

// Two phases, each its own interleaved rounds: the in-memory configurations first, then the durable stores. The
// database servers are not pinned, and their work after a run (flushing, vacuuming) would otherwise land on the app's
// CPU during whatever is measured next. Each phase measures bare Express for its own ratios.
for (let round = 1; round <= rounds; round++) {
  console.log(`in memory, round ${round} of ${rounds}`);
  for (const framework of ["express", "hono"] as const) {
    if (framework === "hono" && !chosen.has("memory")) continue;
    record(`${framework} bare`, await measure(framework, "bare"));
    if (!chosen.has("memory")) continue;
    record(`${framework} memory new keys`, await measure(framework, "memory", "new keys"));
    record(`${framework} memory replays`, await measure(framework, "memory", "replays"));
  }
  for (const library of libraries) {
    record(`express ${library} new keys`, await measure("express", library, "new keys"));
    record(`express ${library} replays`, await measure("express", library, "replays"));
  }
}
for (let round = 1; storesToRun.length > 0 && round <= rounds; round++) {
  console.log(`durable stores, round ${round} of ${rounds}`);
  record("express bare, stores phase", await measure("express", "bare"));
  for (const store of storesToRun) {
    record(`express ${store} new keys`, await measure("express", store, "new keys"));
    record(`express ${store} replays`, await measure("express", store, "replays"));
  }
}
dynalite?.kill();

const measured = (cell: string) => cells.get(cell) ?? [];
const failures = (cell: string) => measured(cell).reduce((sum, m) => sum + m.failures, 0);
/** Median rate and CPU of a cell; the ratio is the median of each round's ratio to the bare app of that round. */
const summary = (cell: string, bare: string) => {
  const ratio = median(measured(cell).map((m, round) => m.rate / measured(bare)[round]!.rate));
  const failed = failures(cell) ? `, ${failures(cell)} failed` : "";
  const rate = median(measured(cell).map((m) => m.rate)).toFixed(0);
  return `${rate} (${ratio.toFixed(2)}x), ${median(measured(cell).map((m) => m.cpu)).toFixed(0)} µs${failed}`;
};
const bareCell = (cell: string) =>
  `${median(measured(cell).map((m) => m.rate)).toFixed(0)}, ${median(measured(cell).map((m) => m.cpu)).toFixed(0)} µs`;
const frameworkRows = chosen.has("memory")
  ? (["express", "hono"] as const).map(
      (framework) =>
        `| ${framework} | ${bareCell(`${framework} bare`)} | ${summary(`${framework} memory new keys`, `${framework} bare`)} | ${summary(`${framework} memory replays`, `${framework} bare`)} |`,
    )
  : [];
const storeRows = durableStores
  .filter((store) => chosen.has(store))
  .map((store) =>
    storesToRun.includes(store)
      ? `| ${store} | ${summary(`express ${store} new keys`, "express bare, stores phase")} | ${summary(`express ${store} replays`, "express bare, stores phase")} |`
      : `| ${store} | not reachable, skipped | |`,
  );
const libraryRows = libraries.map(
  (library) =>
    `| ${library} ${installedVersion(library)} | ${summary(`express ${library} new keys`, "express bare")} | ${summary(`express ${library} replays`, "express bare")} |`,
);
const oncelyRow = chosen.has("memory")
  ? [
      `| oncely (MemoryStore) | ${summary("express memory new keys", "express bare")} | ${summary("express memory replays", "express bare")} |`,
    ]
  : [];

function installedVersion(name: string): string {
  const manifest = new URL(`../node_modules/${name}/package.json`, import.meta.url);
  return (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version;
}

const report = `# Benchmark results

\`npm run bench\` on ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}, ${connections} connections,
${rounds} rounds of ${duration} s per configuration (after ${warmUp} s of warm-up each), the configurations interleaved
within each round; the durable stores run in rounds of their own, after the rest, with bare Express measured again. ${
  launcher.pinned
    ? "The app runs pinned to CPU 0 and autocannon to the other CPUs (taskset), so the app's CPU limits each run."
    : "Autocannon and the app share the machine's CPUs unpinned (no taskset here)."
} Compare the ratios, not the absolute figures.
"new keys" sends a fresh Idempotency-Key per request (claim + complete), "replays" sends one key throughout (answered
from the store). Each cell: requests per second and, in brackets, the ratio to the bare app of the same framework
(medians over the rounds), then the server's CPU time per request (median), which says what a request costs even where
the load generator limits throughput. A failure count follows any cell with non-2xx answers or socket errors.

## Adapters, on the memory store

| app | bare | oncely, new keys | oncely, replays |
| --- | --- | --- | --- |
${frameworkRows.join("\n")}

## Stores, through Express (bare Express in the same rounds: ${bareCell("express bare, stores phase")})

The durable stores run on the local servers (PostgreSQL 15, MariaDB 10.11, Redis 7, SQLite in WAL mode on the local
disk, dynalite for DynamoDB: a single-threaded emulator, far slower than DynamoDB itself).

| store | oncely, new keys | oncely, replays |
| --- | --- | --- |
${storeRows.join("\n")}
${
  libraryRows.length
    ? `
## Other libraries on npm, through Express (bare Express: ${bareCell("express bare")})

Each on its own in-memory store, set up as its README shows (bench/other-libraries.mjs), in the same run. They do
less per request than oncely, which is part of what they cost:
- express-idempotency finds a record, then creates one: two requests with a new key can both run the handler. It
  has no lease (a crash leaves the key in progress), and compares each retry's whole request with deep-equal.
- @node-idempotency/core claims with set-if-not-exists, but does not capture the response: the app hands it the
  JSON body, which it stores and replays as JSON (no bytes, no headers). No lease, no release when the handler throws.

| library | new keys | replays |
| --- | --- | --- |
${[...oncelyRow, ...libraryRows].join("\n")}
`
    : ""
}`;
// Sections other benchmarks write between their own markers (bench/otel.ts: `<!-- otel -->`) are kept.
const results = new URL("./RESULTS.md", import.meta.url);
const previous = existsSync(results) ? readFileSync(results, "utf8") : "";
const kept = previous.match(/<!-- ([\w-]+) -->[\s\S]*?<!-- \/\1 -->/g) ?? [];
writeFileSync(results, [report, ...kept].join("\n") + (kept.length ? "\n" : ""));
console.log("\nwritten to bench/RESULTS.md");
