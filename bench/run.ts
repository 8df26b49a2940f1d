import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { cpuMicroseconds, median, postLoad, serverLauncher } from "./measure.js";

/**
 * Throughput and server CPU per request of the same app bare, behind oncely, and behind each peer (the other
 * idempotency libraries, bench/peers.mjs), for new keys and for replays: per framework (Express, Fastify, Hono) on
 * the memory store and on Redis; then oncely on every durable store through Express. Every configuration is measured
 * once per round, the rounds interleaved, and the tables show medians: the load generator and the server share the
 * machine's cores, and the machine's other load changes from minute to minute.
 *
 * Narrowing a run (each a comma-separated list, default all):
 * - `BENCH_FRAMEWORKS`: express, fastify, hono;
 * - `BENCH_STORES`: memory, redis, sqlite, postgres, mysql, dynamodb;
 * - `BENCH_PEERS`: peer names as in bench/peers.mjs, or `none`;
 * - `BENCH_MODES`: new, replay.
 * `BENCH_DURATION` (seconds per measurement, default 8) and `BENCH_ROUNDS` (default 3) set the length.
 * `BENCH_PEERS_DIR` is where the peers that are not on npm were built (see bench/peers.mjs).
 */
const duration = Number(process.env.BENCH_DURATION ?? 8);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const warmUp = 2;
const connections = 50;
const body = JSON.stringify({ amount: 1000, currency: "eur" });

const allFrameworks = ["express", "fastify", "hono"] as const;
/** The stores every framework runs on, oncely and peers alike. */
const frameworkStores = ["memory", "redis"] as const;
/** oncely's durable stores, through Express, in rounds of their own. */
const durableStores = ["sqlite", "redis", "postgres", "mysql", "dynamodb"] as const;
const allModes = { new: "new keys", replay: "replays" } as const;

type Framework = (typeof allFrameworks)[number];
type StoreName = (typeof frameworkStores)[number] | (typeof durableStores)[number];
type Mode = (typeof allModes)[keyof typeof allModes];
interface Peer {
  framework: Framework;
  stores: string[];
  origin: string;
  version: () => string;
  /** Why it cannot be measured here, or undefined. */
  unavailable: () => string | undefined;
}

// Plain JavaScript, as server.mjs loads it; only the descriptions are used here, the libraries load in the server.
const peersModule: string = "./peers.mjs";
const { peers, notComparable } = (await import(peersModule)) as {
  peers: Record<string, Peer>;
  notComparable: Record<string, string>;
};

/** The names `variable` lists (comma-separated), each one of `known`; all of them when it is unset. */
function selection<T extends string>(variable: string, known: readonly T[], none: readonly string[] = []): T[] {
  const listed = process.env[variable]?.split(",").map((name) => name.trim());
  if (listed === undefined) return [...known];
  const unknown = listed.filter((name) => !known.includes(name as T) && !none.includes(name));
  if (unknown.length) throw new TypeError(`${variable}: unknown ${unknown.join(", ")}; known: ${known.join(", ")}`);
  return known.filter((name) => listed.includes(name));
}

const frameworks = selection("BENCH_FRAMEWORKS", allFrameworks);
const stores = selection("BENCH_STORES", [...new Set<StoreName>([...frameworkStores, ...durableStores])]);
const chosenPeers = selection("BENCH_PEERS", Object.keys(peers), ["none"]);
const modes = selection("BENCH_MODES", Object.keys(allModes) as (keyof typeof allModes)[]).map((m) => allModes[m]);

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
  /**
   * The Redis server's CPU time per request, µs, on Redis: what each library's commands or scripts cost the one
   * thread that serves every app process, and which the app's own CPU does not show.
   */
  storeCpu?: number;
  /** Non-2xx answers and socket errors: reported in the results, never hidden. */
  failures: number;
  /** The server did not start, or exited during the measurement. */
  exited: boolean;
}

const launcher = serverLauncher();

/** The Redis server's CPU time so far (user and system), µs, from `INFO cpu`; NaN when it cannot be read. */
async function redisCpu(): Promise<number> {
  const { Redis } = await import("ioredis");
  const client = new Redis({ host: "127.0.0.1", port: services.redis!, lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    const info = await client.info("cpu");
    const seconds = (field: string) => Number(new RegExp(`^${field}:([\\d.]+)`, "m").exec(info)?.[1]);
    return (seconds("used_cpu_user") + seconds("used_cpu_sys")) * 1e6;
  } catch {
    return Number.NaN;
  } finally {
    client.disconnect();
  }
}

/** One measurement: `guard` ("bare", "oncely" or a peer) on `store` in a fresh server process. */
async function measure(framework: Framework, guard: string, store?: StoreName, mode?: Mode): Promise<Measurement> {
  const child = launcher.start(new URL("./server.mjs", import.meta.url).pathname, [framework, guard, store ?? "-"], {
    ...process.env,
    BENCH_DYNAMODB_ENDPOINT: dynamodbEndpoint,
  });
  const exited = once(child, "exit");
  const started = await Promise.race([once(child, "message"), exited.then(() => undefined)]);
  if (!started) return { rate: 0, cpu: Number.NaN, failures: 0, exited: true };
  const [{ port }] = started as [{ port: number }];
  const replayKey = randomUUID();
  const headers = { "content-type": "application/json" };
  // The replay key's first request runs alone: 50 connections starting at once would otherwise meet it in flight.
  let failures = 0;
  if (mode === "replays") {
    const first = await fetch(`http://127.0.0.1:${port}/charges`, {
      method: "POST",
      headers: { ...headers, "idempotency-key": replayKey },
      body,
    }).catch(() => undefined);
    if (!first?.ok) failures++;
    await first?.arrayBuffer();
  }
  const key = () => (mode === "new keys" ? randomUUID() : mode === "replays" ? replayKey : undefined);
  const load = (seconds: number) =>
    postLoad({ url: `http://127.0.0.1:${port}/charges`, body, connections, seconds, key });
  const cpuNow = () =>
    child.exitCode === null && child.signalCode === null ? cpuMicroseconds(child.pid!) : Number.NaN;
  // Not counted: a fresh process spends its first thousands of requests compiling.
  await load(warmUp);
  const onRedis = store === "redis";
  const redisBefore = onRedis ? await redisCpu() : Number.NaN;
  const before = cpuNow();
  const result = await load(duration);
  const cpu = (cpuNow() - before) / Math.max(1, result.requests.total);
  const storeCpu = onRedis ? ((await redisCpu()) - redisBefore) / Math.max(1, result.requests.total) : undefined;
  const died = child.exitCode !== null || child.signalCode !== null;
  // The server drops its tables and files on disconnect; wait for that before the next measurement starts.
  if (!died) child.disconnect();
  await exited;
  return {
    rate: result.requests.average,
    cpu,
    storeCpu,
    failures: failures + result.errors + result.non2xx,
    exited: died,
  };
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
  const exited = measured.exited ? ", server exited" : "";
  const redis = measured.storeCpu === undefined ? "" : ` + ${measured.storeCpu.toFixed(0)} µs of Redis`;
  console.log(
    `${cell}: ${measured.rate.toFixed(0)} req/s, ${measured.cpu.toFixed(0)} µs CPU/request${redis}${failed}${exited}`,
  );
};

const unreachable = new Set<StoreName>();
for (const store of stores) {
  const port = services[store];
  if (port !== undefined && !(await reachable(port))) {
    console.log(`${store}: not reachable on 127.0.0.1:${port}, skipped`);
    unreachable.add(store);
  }
}
const running = (store: StoreName) => stores.includes(store) && !unreachable.has(store);
const storesPerFramework = frameworkStores.filter(running);
const storesThroughExpress = durableStores.filter(running);
if (storesThroughExpress.includes("dynamodb")) {
  const started = await startDynalite();
  dynamodbEndpoint = started.endpoint;
  dynalite = started.process;
}

/** The peers of `framework` on `store` that this run measures. */
const peersOf = (framework: Framework, store: StoreName) =>
  chosenPeers.filter(
    (name) =>
      peers[name]!.framework === framework && peers[name]!.stores.includes(store) && !peers[name]!.unavailable(),
  );
const cellName = (framework: Framework, store: StoreName, guard: string, mode: Mode) =>
  `${framework} ${store} ${guard} ${mode}`;

/** Every peer this run could have measured but did not, and why. */
const notMeasured = [
  ...Object.entries(peers)
    .filter(
      ([name, peer]) => frameworks.includes(peer.framework) && (!chosenPeers.includes(name) || peer.unavailable()),
    )
    .map(([name, peer]) => `- ${name} (${peer.framework}): ${peer.unavailable() ?? "left out by BENCH_PEERS"}`),
  ...Object.entries(notComparable).map(([name, why]) => `- ${name}: ${why}`),
  ...frameworkStores
    .filter((store) => unreachable.has(store))
    .map((store) => `- every configuration on ${store}: not reachable`),
];
if (notMeasured.length) console.log(`not measured:\n${notMeasured.join("\n")}`);

// Two phases, each its own interleaved rounds: the frameworks (memory store and Redis) first, then the durable
// stores. The database servers are not pinned, and their work after a run (flushing, vacuuming) would otherwise land
// on the app's CPU during whatever is measured next. Each phase measures the bare app for its own ratios.
for (let round = 1; storesPerFramework.length > 0 && round <= rounds; round++) {
  console.log(`frameworks, round ${round} of ${rounds}`);
  for (const framework of frameworks) {
    record(`${framework} bare`, await measure(framework, "bare"));
    for (const store of storesPerFramework) {
      for (const guard of ["oncely", ...peersOf(framework, store)]) {
        for (const mode of modes) {
          record(cellName(framework, store, guard, mode), await measure(framework, guard, store, mode));
        }
      }
    }
  }
}
for (let round = 1; storesThroughExpress.length > 0 && round <= rounds; round++) {
  console.log(`durable stores, round ${round} of ${rounds}`);
  record("express bare, stores phase", await measure("express", "bare"));
  for (const store of storesThroughExpress) {
    for (const mode of modes) {
      record(`express ${store} oncely ${mode}, stores phase`, await measure("express", "oncely", store, mode));
    }
  }
}
dynalite?.kill();

const measured = (cell: string) => cells.get(cell) ?? [];
const rateAndCpu = (cell: string) =>
  `${median(measured(cell).map((m) => m.rate)).toFixed(0)} req/s, ${median(measured(cell).map((m) => m.cpu)).toFixed(0)} µs`;
/** Median rate and CPU of a cell; the ratio is the median of each round's ratio to the bare app of that round. */
function summary(cell: string, bare: string): string {
  const all = measured(cell);
  if (all.length === 0) return "not measured";
  const ratio = median(all.map((m, round) => m.rate / measured(bare)[round]!.rate));
  const failures = all.reduce((sum, m) => sum + m.failures, 0);
  const exits = all.filter((m) => m.exited).length;
  const failed = failures ? `, ${failures} failed` : "";
  const exited = exits ? `, server did not start or exited in ${exits} of ${all.length} rounds` : "";
  // The CPU of a server that exited cannot be read: the median of the others, if any.
  const cpus = all.map((m) => m.cpu).filter(Number.isFinite);
  const cpu = cpus.length ? `${median(cpus).toFixed(0)} µs` : "no CPU figure";
  const storeCpus = all.map((m) => m.storeCpu).filter((value): value is number => Number.isFinite(value));
  const redis = storeCpus.length ? ` + ${median(storeCpus).toFixed(0)} µs Redis` : "";
  return `${median(all.map((m) => m.rate)).toFixed(0)} (${ratio.toFixed(2)}x), ${cpu}${redis}${failed}${exited}`;
}
const label = (guard: string) =>
  guard === "oncely" ? "oncely" : `${guard} ${peers[guard]!.version()}${peers[guard]!.origin === "npm" ? "" : " *"}`;
const modeHeader = modes.map((mode) => ` ${mode} |`).join("");
const modeRule = modes.map(() => " --- |").join("");

const frameworkSections = storesPerFramework.length
  ? frameworks.map((framework) => {
      const rows = storesPerFramework.flatMap((store) =>
        ["oncely", ...peersOf(framework, store)].map(
          (guard) =>
            `| ${store} | ${label(guard)} |${modes.map((mode) => ` ${summary(cellName(framework, store, guard, mode), `${framework} bare`)} |`).join("")}`,
        ),
      );
      return `### ${framework[0]!.toUpperCase()}${framework.slice(1)} (bare: ${rateAndCpu(`${framework} bare`)})

| store | guard |${modeHeader}
| --- | --- |${modeRule}
${rows.join("\n")}`;
    })
  : [];

const storeRows = storesThroughExpress.map(
  (store) =>
    `| ${store} |${modes.map((mode) => ` ${summary(`express ${store} oncely ${mode}, stores phase`, "express bare, stores phase")} |`).join("")}`,
);

const report = `# Benchmark results

\`npm run bench\` on ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}, ${connections} connections,
${rounds} rounds of ${duration} s per configuration (after ${warmUp} s of warm-up each), the configurations interleaved
within each round; the durable stores run in rounds of their own, after the rest, with bare Express measured again. ${
  launcher.pinned
    ? "The app runs pinned to CPU 0 and autocannon to the other CPUs (taskset), so the app's CPU limits each run."
    : "Autocannon and the app share the machine's CPUs unpinned (no taskset here)."
} Compare the ratios, not the absolute figures.
"new keys" sends a fresh Idempotency-Key per request (claim + complete), "replays" sends one key throughout (answered
from the store). Each cell: requests per second and, in brackets, the ratio to the bare app of the same framework in
the same round (medians over the rounds), then the server's CPU time per request (median), which says what a request
costs even where the load generator limits throughput; on Redis, then the Redis server's own CPU time per request
(from its \`INFO cpu\`): one thread serves every app process, so this is what bounds a fleet's throughput per Redis. A failure count follows any cell with non-2xx answers or
socket errors, and a note any cell whose server did not start or exited.

\`BENCH_FRAMEWORKS\` (express, fastify, hono), \`BENCH_STORES\` (memory, redis, sqlite, postgres, mysql, dynamodb),
\`BENCH_PEERS\` (names as in bench/peers.mjs, or none) and \`BENCH_MODES\` (new, replay) narrow a run, each a
comma-separated list; \`BENCH_DURATION\` and \`BENCH_ROUNDS\` set its length.

## oncely and the other libraries, per framework and store

Each library ("peer") on its own memory store and its own Redis store (Redis 7 on 127.0.0.1, no persistence), set up
as its README shows (bench/peers.mjs). A * marks a peer that is not on npm: built from its public repository, outside
this one, into the folder \`BENCH_PEERS_DIR\` names (\`<dir>/hono-idempotency\`, \`<dir>/node-idempotency\` with its
packages built); without it those rows are left out and the file lists them under "Not measured", with the reason.
The peers do less per request than oncely, which is part of what they cost:
- express-idempotency finds a record, then creates one: two requests with a new key can both run the handler. It
  has no lease (a crash leaves the key in progress), and compares each retry's whole request with deep-equal.
- @node-idempotency (core, and its Express and Fastify plugins) claims with set-if-not-exists but keeps no response
  bytes: it stores the body its glue hands over and replays it with the status and a few headers. No lease, no
  release when the handler throws. \`@node-idempotency/core\` is its framework-free package on npm, with the glue
  around \`res.json\` that its README describes.
- hono-idempotency claims with set-if-not-exists, reads the whole response back to store it, and keeps no lease.

${frameworkSections.join("\n\n")}
${notMeasured.length ? `\nNot measured:\n${notMeasured.join("\n")}\n` : ""}${
  storeRows.length
    ? `
## oncely's stores, through Express (bare Express: ${rateAndCpu("express bare, stores phase")})

The durable stores run on the local servers (PostgreSQL 15, MariaDB 10.11, Redis 7, SQLite in WAL mode on the local
disk, dynalite for DynamoDB: a single-threaded emulator, far slower than DynamoDB itself), in rounds of their own
with bare Express measured again for their ratios.

| store |${modeHeader}
| --- |${modeRule}
${storeRows.join("\n")}
`
    : ""
}`;
// Sections other benchmarks write between their own markers (bench/engine.mjs: `<!-- engine -->`) are kept.
const results = new URL("./RESULTS.md", import.meta.url);
const previous = existsSync(results) ? readFileSync(results, "utf8") : "";
const kept = previous.match(/<!-- ([\w-]+) -->[\s\S]*?<!-- \/\1 -->/g) ?? [];
writeFileSync(results, [report, ...kept].join("\n") + (kept.length ? "\n" : ""));
console.log("\nwritten to bench/RESULTS.md");
