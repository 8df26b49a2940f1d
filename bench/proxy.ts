import { type ChildProcess, fork, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo, Socket } from "node:net";
import { connect } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpuMicroseconds, median, postLoad } from "./measure.js";

/**
 * What `oncely proxy` costs: the throughput of a bare node:http upstream reached directly, through the proxy with
 * oncely switched off (no route matches: the streamed pass-through path), and through the proxy guarding the route,
 * on the memory store and on Redis when it runs, for new keys and for replays. The proxy is the real command
 * (`oncely proxy`, its JSON-lines log to /dev/null); upstream and proxy each run in their own process on 127.0.0.1.
 * Configurations run interleaved, `BENCH_RUNS` times (default 2), `BENCH_DURATION` seconds each (default 5).
 * Writes its section of bench/RESULTS.md (between the `proxy` markers): `npx tsx bench/proxy.ts`.
 */
const duration = Number(process.env.BENCH_DURATION ?? 5);
const runs = Number(process.env.BENCH_RUNS ?? 2);
const connections = 50;
const body = JSON.stringify({ amount: 1000, currency: "eur" });
const answer = JSON.stringify({ id: "ch_1", amount: 1000, currency: "eur", status: "succeeded" });

type Mode = "new keys" | "replays";
interface Configuration {
  name: string;
  /** Proxy arguments; none: the upstream reached directly. */
  proxy?: { store: string; route: string };
  mode: Mode;
}

interface Measurement {
  rps: number;
  /** CPU time per request of the process answering autocannon (the proxy, or the upstream when direct), µs. */
  cpu: number;
  errors: number;
}

const loadAtStart = loadavg()[0]!;

async function main() {
  const redis = await reachable(6379);
  const redisPrefix = `oncely-bench-proxy:${randomUUID().slice(0, 8)}:`;
  const configurations: Configuration[] = [
    { name: "upstream directly", mode: "new keys" },
    { name: "proxy, oncely off", proxy: { store: "memory:", route: "POST /elsewhere" }, mode: "new keys" },
    { name: "proxy + oncely, memory", proxy: { store: "memory:", route: "POST /charges" }, mode: "new keys" },
    { name: "proxy + oncely, memory", proxy: { store: "memory:", route: "POST /charges" }, mode: "replays" },
    ...(redis
      ? ([
          {
            name: "proxy + oncely, redis",
            proxy: { store: `redis://127.0.0.1:6379?prefix=${redisPrefix}`, route: "POST /charges" },
            mode: "new keys",
          },
          {
            name: "proxy + oncely, redis",
            proxy: { store: `redis://127.0.0.1:6379?prefix=${redisPrefix}`, route: "POST /charges" },
            mode: "replays",
          },
        ] as const)
      : []),
  ];
  const upstream = fork(fileURLToPath(import.meta.url), ["upstream"], { execArgv: ["--import", tsx()] });
  const [{ port: upstreamPort }] = (await once(upstream, "message")) as [{ port: number }];
  const results = new Map<Configuration, Measurement[]>(configurations.map((c) => [c, []]));
  try {
    for (let run = 1; run <= runs; run++) {
      for (const configuration of configurations) {
        const measured = await measure(configuration, upstream, upstreamPort);
        results.get(configuration)!.push(measured);
        console.log(
          `run ${run}, ${configuration.name}, ${configuration.mode}: ${measured.rps.toFixed(0)} req/s, ` +
            `${measured.cpu.toFixed(0)} µs CPU/request${measured.errors ? `, ${measured.errors} failed` : ""}`,
        );
      }
    }
  } finally {
    upstream.disconnect();
  }
  if (redis) await cleanRedis(redisPrefix);
  writeSection(configurations, results);
}

async function measure(configuration: Configuration, upstream: ChildProcess, upstreamPort: number) {
  let proxy: ChildProcess | undefined;
  let port = upstreamPort;
  if (configuration.proxy) {
    const started = await startProxy(configuration.proxy, upstreamPort);
    proxy = started.child;
    port = started.port;
  }
  const url = `http://127.0.0.1:${port}/charges`;
  const headers = { "content-type": "application/json" };
  const replayKey = randomUUID();
  if (configuration.mode === "replays") {
    await fetch(url, { method: "POST", headers: { ...headers, "idempotency-key": replayKey }, body });
  }
  const pid = (proxy ?? upstream).pid!;
  const key = () => (configuration.mode === "new keys" ? randomUUID() : replayKey);
  const load = (seconds: number) => postLoad({ url, body, connections, seconds, key });
  // A second of warm-up, not counted: a fresh process spends its first thousands of requests compiling.
  await load(1);
  const before = cpuMicroseconds(pid);
  const result = await load(duration);
  const cpu = (cpuMicroseconds(pid) - before) / Math.max(1, result.requests.total);
  if (proxy) {
    proxy.kill("SIGTERM");
    await once(proxy, "exit");
  }
  return { rps: result.requests.average, cpu, errors: result.errors + result.non2xx };
}

/** `oncely proxy` from the sources, its log to /dev/null; resolves once it listens. */
async function startProxy(options: { store: string; route: string }, upstreamPort: number) {
  const cli = fileURLToPath(new URL("../src/cli/index.ts", import.meta.url));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      "--import",
      tsx(),
      cli,
      "proxy",
      "--upstream",
      `http://127.0.0.1:${upstreamPort}`,
      "--port",
      String(port),
      "--store",
      options.store,
      "--config",
      configFile(options.route),
      "--drain-timeout",
      "1s",
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  // The first line says it listens; everything after goes nowhere, as a log shipped off the box would.
  const [first] = (await once(child.stdout!, "data")) as [Buffer];
  if (!first.toString().includes("oncely proxy listening")) throw new Error(`the proxy did not start: ${first}`);
  child.stdout!.resume();
  return { child, port };
}

const configDir = mkdtempSync(join(tmpdir(), "oncely-bench-proxy-"));
process.on("exit", () => rmSync(configDir, { recursive: true, force: true }));

/** The route as a config file, without the per-key rate limit (replays send one key throughout), as bench/server.mjs. */
function configFile(route: string): string {
  const file = join(configDir, `${route.replace(/\W/g, "_")}.json`);
  writeFileSync(file, JSON.stringify({ routes: [{ route, rateLimit: false, ttl: "5m" }] }));
  return file;
}

function tsx(): string {
  return createRequire(import.meta.url).resolve("tsx");
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: "127.0.0.1", port, timeout: 1_000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function cleanRedis(prefix: string): Promise<void> {
  const { Redis } = await import("ioredis");
  const client = new Redis("redis://127.0.0.1:6379");
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    if (keys.length > 0) await client.unlink(...keys);
    cursor = next;
  } while (cursor !== "0");
  await client.quit();
}

function writeSection(configurations: Configuration[], results: Map<Configuration, Measurement[]>): void {
  const summary = (configuration: Configuration) => {
    const measured = results.get(configuration)!;
    return {
      rps: median(measured.map((m) => m.rps)),
      cpu: median(measured.map((m) => m.cpu)),
      errors: measured.reduce((sum, m) => sum + m.errors, 0),
    };
  };
  // Each run measured every configuration back to back: a ratio within a run compares like with like on a machine
  // whose load changes from minute to minute, so the table shows the median of the per-run ratios.
  const ratioTo = (configuration: Configuration, base: Configuration) =>
    `${median(results.get(configuration)!.map((m, run) => m.rps / results.get(base)![run]!.rps)).toFixed(2)}x`;
  const rows = configurations.map((configuration, index) => {
    const s = summary(configuration);
    const failed = s.errors ? `, ${s.errors} failed` : "";
    const vsOff = index === 0 ? "" : ratioTo(configuration, configurations[1]!);
    return `| ${configuration.name} | ${index < 2 ? "-" : configuration.mode} | ${s.rps.toFixed(0)}${failed} | ${s.cpu.toFixed(0)} | ${ratioTo(configuration, configurations[0]!)} | ${vsOff} |`;
  });
  const everyRun = configurations.map((configuration, index) => {
    const cells = results.get(configuration)!.map((m) => `${m.rps.toFixed(0)} (${m.cpu.toFixed(0)} µs)`);
    return `| ${configuration.name} | ${index < 2 ? "-" : configuration.mode} | ${cells.join(" | ")} |`;
  });
  const section = `<!-- proxy -->
## The reverse proxy (\`oncely proxy\`)

\`npx tsx bench/proxy.ts\` on ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}: autocannon, ${connections} connections,
POST with a JSON body and an Idempotency-Key (a new one per request, or one throughout for replays), ${duration} s per
run after 1 s of warm-up, the configurations interleaved, ${runs} runs. The upstream is a bare node:http server (201 with a small JSON body);
the proxy is the real command (\`oncely proxy --config ... --store ...\`, the route with \`rateLimit: false\` as in the other
benchmarks, one JSON log line per decision to /dev/null),
each in its own process. "oncely off": the same proxy with a route that matches nothing, so every request takes the
streamed pass-through path. The machine (2 cores) was shared with other work while this ran (1-minute load average
${loadAtStart.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end), and load generator,
proxy and upstream share it too: compare the ratios, not the absolute figures. CPU is the answering process's CPU
time per request (the proxy's; the upstream's when reached directly), from /proc, in µs.

Medians of the runs (the ratios: the median of each run's ratio, the configurations of one run having run back to
back):

| configuration | mode | req/s | CPU µs/request | vs upstream directly | vs proxy, oncely off |
| --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

Every run, req/s (CPU µs/request):

| configuration | mode | ${Array.from({ length: runs }, (_, i) => `run ${i + 1}`).join(" | ")} |
| --- | --- | ${Array.from({ length: runs }, () => "---").join(" | ")} |
${everyRun.join("\n")}
<!-- /proxy -->`;
  const file = new URL("./RESULTS.md", import.meta.url);
  const current = readFileSync(file, "utf8");
  const marked = /<!-- proxy -->[\s\S]*<!-- \/proxy -->/;
  writeFileSync(file, marked.test(current) ? current.replace(marked, section) : `${current.trimEnd()}\n\n${section}\n`);
  console.log("\nwritten to bench/RESULTS.md (the proxy section)");
}

// The upstream, when this file runs as its child: a bare node:http server that answers every request 201.
if (process.argv[2] === "upstream") {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(201, { "content-type": "application/json", "content-length": Buffer.byteLength(answer) });
      res.end(answer);
    });
  });
  server.listen(0, "127.0.0.1", () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on("disconnect", () => process.exit(0));
} else {
  await main();
}
