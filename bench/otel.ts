import { type ChildProcess, execFile, fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import autocannon from "autocannon";
import { median } from "./measure.js";

/**
 * What tracing and metrics cost: Express + oncely (memory store) without OpenTelemetry, with the SDK on (and a server
 * span per request) but oncely not instrumented, and instrumented through oncely/otel (spans and metrics to no-op exporters). The three
 * run interleaved, `BENCH_RUNS` times (default 2), `BENCH_DURATION` seconds each (default 8), for new keys and for
 * replays. Writes its section of bench/RESULTS.md (between the `otel` markers). Run `npm run build` first:
 * `npm run build && npx tsx bench/otel.ts`.
 */
const duration = Number(process.env.BENCH_DURATION ?? 8);
const runs = Number(process.env.BENCH_RUNS ?? 2);
const connections = 50;
const body = JSON.stringify({ amount: 1000, currency: "eur" });
const configurations = ["oncely", "sdk", "oncely-otel"] as const;
const modes = ["new keys", "replays"] as const;
type Configuration = (typeof configurations)[number];
type Mode = (typeof modes)[number];

interface Measurement {
  /** Requests per second, average. */
  rps: number;
  /** The server's CPU time per request, µs: less sensitive than throughput to what else runs on the machine. */
  cpu: number;
}

async function measure(configuration: Configuration, mode: Mode): Promise<Measurement> {
  const child = fork(new URL("./otel-server.mjs", import.meta.url).pathname, [configuration]);
  const [{ port }] = (await Promise.race([
    once(child, "message"),
    once(child, "exit").then(() => Promise.reject(new Error(`the ${configuration} server exited before listening`))),
  ])) as [{ port: number }];
  const url = `http://127.0.0.1:${port}/charges`;
  const headers = { "content-type": "application/json" };
  const replayKey = randomUUID();
  if (mode === "replays") {
    await fetch(url, { method: "POST", headers: { ...headers, "idempotency-key": replayKey }, body });
  }
  const before = await stats(child);
  const result = await autocannon({
    url,
    method: "POST",
    connections,
    duration,
    body,
    headers,
    requests: [
      {
        setupRequest: (request) => ({
          ...request,
          headers: { ...headers, "idempotency-key": mode === "new keys" ? randomUUID() : replayKey },
        }),
      },
    ],
  });
  const after = await stats(child);
  child.disconnect();
  await once(child, "exit");
  const errors = result.errors + result.non2xx;
  if (errors > 0) throw new Error(`${configuration}, ${mode}: ${errors} errors or non-2xx answers`);
  // A run that exported nothing measured nothing: the instrumentation must have been on the path.
  if (configuration === "oncely-otel" && after.spans < result.requests.total) {
    throw new Error(`oncely-otel, ${mode}: ${after.spans} spans exported for ${result.requests.total} requests`);
  }
  return { rps: result.requests.average, cpu: (after.cpu - before.cpu) / result.requests.total };
}

/** The server's CPU time so far (µs) and the spans it exported. */
async function stats(child: ChildProcess): Promise<{ spans: number; cpu: number }> {
  child.send("stats");
  const [message] = (await once(child, "message")) as [{ spans: number; cpu: number }];
  return message;
}

const results: Record<Mode, Record<Configuration, Measurement[]>> = {
  "new keys": { oncely: [], sdk: [], "oncely-otel": [] },
  replays: { oncely: [], sdk: [], "oncely-otel": [] },
};
for (let run = 1; run <= runs; run++) {
  for (const mode of modes) {
    for (const configuration of configurations) {
      const measured = await measure(configuration, mode);
      results[mode][configuration].push(measured);
      console.log(
        `run ${run}, ${mode}, ${configuration}: ${measured.rps.toFixed(0)} req/s, ${measured.cpu.toFixed(0)} µs CPU/request`,
      );
    }
  }
}

/** oncely's own work per request without HTTP (bench/otel-inprocess.mjs), µs: best of that process's samples. */
async function inProcess(configuration: Configuration): Promise<Record<"newKeys" | "replays", number>> {
  const script = new URL("./otel-inprocess.mjs", import.meta.url).pathname;
  const { stdout } = await promisify(execFile)(process.execPath, [script, configuration]);
  return JSON.parse(stdout);
}

const inProcessResults: Record<Configuration, Record<"newKeys" | "replays", number>[]> = {
  oncely: [],
  sdk: [],
  "oncely-otel": [],
};
for (let run = 1; run <= runs; run++) {
  for (const configuration of configurations) {
    const measured = await inProcess(configuration);
    inProcessResults[configuration].push(measured);
    console.log(
      `run ${run}, without HTTP, ${configuration}: ${measured.newKeys.toFixed(1)} µs per new key, ${measured.replays.toFixed(1)} µs per replay`,
    );
  }
}
const fastest = (configuration: Configuration, mode: "newKeys" | "replays") =>
  Math.min(...inProcessResults[configuration].map((measured) => measured[mode]));
const inProcessRows = (["newKeys", "replays"] as const).map((mode) => {
  const [oncely, sdk, otel] = configurations.map((c) => fastest(c, mode)) as [number, number, number];
  return `| ${mode === "newKeys" ? "new keys" : "replays"} | ${oncely.toFixed(1)} | ${sdk.toFixed(1)} | ${otel.toFixed(1)} | ${(otel - sdk).toFixed(1)} |`;
});

const ratio = (value: number, base: number) => `${(value / base).toFixed(2)}x`;
const rows: string[] = [];
for (const mode of modes) {
  for (let run = 0; run < runs; run++) {
    const [oncely, sdk, otel] = configurations.map((c) => results[mode][c][run]!) as [
      Measurement,
      Measurement,
      Measurement,
    ];
    const cell = (m: Measurement) => `${m.rps.toFixed(0)} req/s, ${m.cpu.toFixed(0)} µs`;
    rows.push(
      `| ${mode} | ${run + 1} | ${cell(oncely)} | ${cell(sdk)} | ${cell(otel)} | ${ratio(otel.rps, oncely.rps)} / ${ratio(otel.cpu, oncely.cpu)} | ${ratio(otel.rps, sdk.rps)} / ${ratio(otel.cpu, sdk.cpu)} |`,
    );
  }
}

const summary = modes.map((mode) => {
  const [oncely, sdk, otel] = configurations.map((c) => ({
    rps: median(results[mode][c].map((m) => m.rps)),
    cpu: median(results[mode][c].map((m) => m.cpu)),
  })) as [Measurement, Measurement, Measurement];
  const cell = (m: Measurement) => `${m.rps.toFixed(0)} req/s, ${m.cpu.toFixed(0)} µs`;
  return `| ${mode} | ${cell(oncely)} | ${cell(sdk)} (${ratio(sdk.rps, oncely.rps)} / ${ratio(sdk.cpu, oncely.cpu)}) | ${cell(otel)} | ${ratio(otel.rps, oncely.rps)} / ${ratio(otel.cpu, oncely.cpu)} | ${ratio(otel.rps, sdk.rps)} / ${ratio(otel.cpu, sdk.cpu)} |`;
});

const section = `<!-- otel -->
## OpenTelemetry (\`oncely/otel\`)

\`npx tsx bench/otel.ts\` on ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}, Express 5 + oncely on
the memory store, ${connections} connections, ${duration} s per measurement, the three configurations interleaved, run
${runs} times on the same shared 2-core machine. "SDK on": the OpenTelemetry SDK (tracer and meter providers, the
async-hooks context manager) set up, and a SERVER span per request as an HTTP instrumentation makes; oncely not
instrumented. "oncely/otel": the same, and the engine made with \`createTelemetry().createIdempotency()\`: 3 more spans
per new key (request, claim, complete) or 2 per replay, to a no-op exporter through a \`BatchSpanProcessor\`; metrics to
a no-op exporter every 60 s. Each cell: requests per second (average) and the server's CPU time per request (less
sensitive than throughput to the other work on a shared machine); ratios as throughput / CPU per request.

Medians of the runs:

| mode | oncely | SDK on (vs oncely) | oncely/otel | oncely/otel vs oncely | oncely/otel vs SDK on |
| --- | --- | --- | --- | --- | --- |
${summary.join("\n")}

Every run:

| mode | run | oncely | SDK on | oncely/otel | oncely/otel vs oncely | oncely/otel vs SDK on |
| --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

Without HTTP, oncely's own work per request (\`guard.begin\` then \`finish\`, as an adapter calls them, inside a
SERVER span where the SDK is on), in µs of wall time, the best of 9 samples of 10,000 requests in each of ${runs}
processes per configuration: contention only ever slows a sample down, so the best is the least disturbed.

| mode | oncely | SDK on | oncely/otel | added by oncely/otel |
| --- | --- | --- | --- | --- |
${inProcessRows.join("\n")}
<!-- /otel -->`;

const file = new URL("./RESULTS.md", import.meta.url);
const current = readFileSync(file, "utf8");
const marked = /<!-- otel -->[\s\S]*<!-- \/otel -->/;
writeFileSync(file, marked.test(current) ? current.replace(marked, section) : `${current.trimEnd()}\n\n${section}\n`);
console.log("\nwritten to bench/RESULTS.md (the otel section)");
