import { fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import autocannon from "autocannon";

/**
 * What tracing and metrics cost: Express + oncely (memory store) without OpenTelemetry, with the SDK registered but
 * oncely not instrumented, and instrumented through oncely/otel (spans and metrics to no-op exporters). The three
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

async function measure(configuration: Configuration, mode: Mode): Promise<number> {
  const port = 40_000 + Math.floor(Math.random() * 10_000);
  const child = fork(new URL("./otel-server.mjs", import.meta.url).pathname, [configuration, String(port)]);
  await once(child, "message");
  const url = `http://127.0.0.1:${port}/charges`;
  const headers = { "content-type": "application/json" };
  const replayKey = randomUUID();
  if (mode === "replays") {
    await fetch(url, { method: "POST", headers: { ...headers, "idempotency-key": replayKey }, body });
  }
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
  child.send("spans");
  const [{ spans }] = (await once(child, "message")) as [{ spans: number }];
  child.disconnect();
  await once(child, "exit");
  const errors = result.errors + result.non2xx;
  if (errors > 0) throw new Error(`${configuration}, ${mode}: ${errors} errors or non-2xx answers`);
  // A run that exported nothing measured nothing: the instrumentation must have been on the path.
  if (configuration === "oncely-otel" && spans < result.requests.total) {
    throw new Error(`oncely-otel, ${mode}: ${spans} spans exported for ${result.requests.total} requests`);
  }
  return result.requests.average;
}

const results: Record<Mode, Record<Configuration, number[]>> = {
  "new keys": { oncely: [], sdk: [], "oncely-otel": [] },
  replays: { oncely: [], sdk: [], "oncely-otel": [] },
};
for (let run = 1; run <= runs; run++) {
  for (const mode of modes) {
    for (const configuration of configurations) {
      const rps = await measure(configuration, mode);
      results[mode][configuration].push(rps);
      console.log(`run ${run}, ${mode}, ${configuration}: ${rps.toFixed(0)} req/s`);
    }
  }
}

const ratio = (value: number, base: number) => `${(value / base).toFixed(2)}x`;
const rows: string[] = [];
for (const mode of modes) {
  for (let run = 0; run < runs; run++) {
    const [oncely, sdk, otel] = configurations.map((c) => results[mode][c][run]!);
    rows.push(
      `| ${mode} | ${run + 1} | ${oncely!.toFixed(0)} | ${sdk!.toFixed(0)} (${ratio(sdk!, oncely!)}) | ${otel!.toFixed(0)} (${ratio(otel!, oncely!)}) | ${ratio(otel!, sdk!)} |`,
    );
  }
}

const section = `<!-- otel -->
## OpenTelemetry (\`oncely/otel\`)

\`npx tsx bench/otel.ts\` on ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}, Express 5 + oncely on
the memory store, ${connections} connections, ${duration} s per measurement, the three configurations interleaved, run
${runs} times on the same shared 2-core machine. "SDK registered": the OpenTelemetry SDK (tracer and meter providers, the
async-hooks context manager) is set up but oncely is not instrumented. "oncely/otel": the same SDK, and the engine made
with \`createTelemetry().createIdempotency()\`: 3 spans per new key (request, claim, complete) or 2 per replay, to a
no-op exporter through a \`BatchSpanProcessor\`; metrics to a no-op exporter every 60 s. Requests per second, average.

| mode | run | oncely | SDK registered | oncely/otel | oncely/otel vs SDK registered |
| --- | --- | --- | --- | --- | --- |
${rows.join("\n")}
<!-- /otel -->`;

const file = new URL("./RESULTS.md", import.meta.url);
const current = readFileSync(file, "utf8");
const marked = /<!-- otel -->[\s\S]*<!-- \/otel -->/;
writeFileSync(file, marked.test(current) ? current.replace(marked, section) : `${current.trimEnd()}\n\n${section}\n`);
console.log("\nwritten to bench/RESULTS.md (the otel section)");
