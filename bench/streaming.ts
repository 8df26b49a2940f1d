import { fork } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, request } from "node:http";
import type { AddressInfo } from "node:net";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { withIdempotency } from "../src/adapters/node/index.js";
import { createIdempotency, MemoryStore } from "../src/index.js";
import { median } from "./measure.js";

/**
 * What recording a stream costs (`stream: true`, memory store, node:http): time to first byte and throughput of the
 * same server-sent event route guarded and unguarded, measured in one run, interleaved, sequential requests with a new
 * key each; and the server's memory per follower joined to one stream in flight. The server runs in its own process
 * (forked, `--expose-gc`); this one is the client. `BENCH_REQUESTS` per route (default 200).
 * Writes its section of bench/RESULTS.md (between the `streaming` markers): `npx tsx bench/streaming.ts`.
 */
const CHUNKS = 200;
const CHUNK = `data: ${"x".repeat(500)}\n\n`;
const FOLLOWERS = 200;
const WARM_FOLLOWERS = 50;
const requests = Number(process.env.BENCH_REQUESTS ?? 200);

if (process.argv[2] === "server") serve();
else await measure();

/** The server: `/guarded` and `/unguarded` stream CHUNKS events; `/held` streams one and waits for `release`. */
function serve(): void {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const idem = createIdempotency({ store: new MemoryStore(), logger: false, rateLimit: false });
  let release: () => void = () => {};
  const stream = async (req: IncomingMessage, res: import("node:http").ServerResponse) => {
    for await (const _ of req);
    res.writeHead(200, { "content-type": "text/event-stream" });
    if (req.url === "/held") {
      res.write(CHUNK);
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    } else {
      for (let i = 0; i < CHUNKS; i++) {
        if (!res.write(CHUNK)) await once(res, "drain");
      }
    }
    res.end();
  };
  const guarded = withIdempotency(idem, stream, { stream: true });
  const server = createServer((req, res) => void (req.url === "/unguarded" ? stream(req, res) : guarded(req, res)));
  server.listen(0, "127.0.0.1", () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on("message", (message: string) => {
    if (message === "release") release();
    if (message === "memory") {
      gc();
      gc();
      const { heapUsed, external } = process.memoryUsage();
      process.send!({ memory: heapUsed + external });
    }
  });
}

/** One request: resolves with the time to the first body byte and to the end, ms, and the bytes read. */
function timed(url: string, key: string): Promise<{ ttfb: number; total: number; bytes: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "idempotency-key": key } }, (res) => {
      let ttfb = 0;
      let bytes = 0;
      res.on("data", (chunk: Buffer) => {
        if (bytes === 0) ttfb = performance.now() - start;
        bytes += chunk.byteLength;
      });
      res.on("end", () => resolve({ ttfb, total: performance.now() - start, bytes }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Opens a follower of `url`'s stream and resolves once its first byte arrived; it then reads on. */
function follower(url: string, key: string, done: Promise<unknown>[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "idempotency-key": key } }, (res) => {
      res.once("data", () => resolve());
      res.resume();
      done.push(once(res, "end"));
    });
    req.on("error", reject);
    req.end();
  });
}

async function measure(): Promise<void> {
  const server = fork(fileURLToPath(import.meta.url), ["server"], { execArgv: ["--import", "tsx"] });
  const [{ port }] = (await once(server, "message")) as [{ port: number }];
  const base = `http://127.0.0.1:${port}`;
  type Sample = { ttfb: number; total: number; bytes: number };
  const samples: Record<"guarded" | "unguarded", Sample[]> = { guarded: [], unguarded: [] };
  for (let i = 0; i < requests; i++) {
    // Interleaved, so a change in the machine's load touches both alike.
    samples.unguarded.push(await timed(`${base}/unguarded`, `u-${i}`));
    samples.guarded.push(await timed(`${base}/guarded`, `g-${i}`));
  }
  const summary = (name: "guarded" | "unguarded") => {
    const list = samples[name];
    const bytes = list.reduce((sum, sample) => sum + sample.bytes, 0);
    const seconds = list.reduce((sum, sample) => sum + sample.total, 0) / 1000;
    return { ttfb: median(list.map((sample) => sample.ttfb)), mbps: bytes / seconds / 1e6 };
  };
  const guarded = summary("guarded");
  const unguarded = summary("unguarded");

  const memory = async () => {
    server.send("memory");
    return ((await once(server, "message")) as [{ memory: number }])[0].memory;
  };
  const done: Promise<unknown>[] = [];
  await follower(`${base}/held`, "held", done);
  // The slope between two crowds, so what the first follower warms up (code, pools) is not counted.
  for (let i = 0; i < WARM_FOLLOWERS; i++) await follower(`${base}/held`, "held", done);
  const before = await memory();
  for (let i = 0; i < FOLLOWERS; i++) await follower(`${base}/held`, "held", done);
  const after = await memory();
  server.send("release");
  await Promise.all(done);
  server.kill();
  const perFollower = (after - before) / FOLLOWERS;

  const row = (name: string, m: { ttfb: number; mbps: number }) =>
    `| ${name} | ${m.ttfb.toFixed(2)} | ${m.mbps.toFixed(1)} |`;
  const section = `<!-- streaming -->
### Streamed responses

\`npx tsx bench/streaming.ts\`, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, load average
${loadavg()[0]!.toFixed(1)}. One server-sent event route on node:http (memory store) answering ${CHUNKS} events of
${CHUNK.length} bytes, guarded (\`stream: true\`, a new key per request) and unguarded, ${requests} sequential requests
each, interleaved, in one run; the client runs in another process on the same cores, so compare the two rows, not
figures across runs.

| route | time to first byte, median (ms) | throughput (MB/s) |
| --- | --- | --- |
${row("unguarded", unguarded)}
${row("guarded, recorded", guarded)}

Server memory per follower joined to one stream in flight (the growth from ${WARM_FOLLOWERS} to ${WARM_FOLLOWERS + FOLLOWERS} followers, after full GCs): ${(perFollower / 1024).toFixed(1)} KB.
<!-- /streaming -->`;
  console.log(section);
  const path = fileURLToPath(new URL("./RESULTS.md", import.meta.url));
  const results = readFileSync(path, "utf8");
  const marked = /<!-- streaming -->[\s\S]*<!-- \/streaming -->/;
  writeFileSync(path, marked.test(results) ? results.replace(marked, section) : `${results.trimEnd()}\n\n${section}\n`);
}
