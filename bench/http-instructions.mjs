// Instructions a benchmark app (bench/server.mjs) executes per HTTP request on its main thread, counted by valgrind's
// callgrind: the figure that does not move with the machine's other load, where CPU time on a shared machine does.
// The app runs under callgrind with its instrumentation off; this process, outside valgrind, sends WARM_UP requests
// one after another on one kept-alive connection, turns the counting on, sends REQUESTS more and dumps the counts:
// the main thread's total over REQUESTS is one request's cost, the server's reads and writes on its socket included.
// Main thread only: the JIT still compiles for thousands of requests after the warm-up, on helper threads (with
// `--single-threaded` that compiling more than doubled a bare app's count); the garbage collector's work on the main
// thread is counted, its helper threads' is not. When the JIT's helpers finish decides how long code runs
// unoptimized, so two runs of one app differ by up to about 9,000 instructions: compare a change side by side, twice.
//
// `node bench/http-instructions.mjs <framework> <guard> <mode>`, where framework and guard are bench/server.mjs's
// (guard: bare, oncely) and mode is `new` (a new key per request) or `replay` (one key throughout); the store is the
// memory store, or the one `STORE` names (a name bench/stores.mjs knows, e.g. redis; store calls then get 10 min to
// answer, as valgrind slows the app down some 50 times). Several `framework:guard:mode` triples may follow each other,
// and run side by side. Run after `npm run build`. Slow: several minutes per triple. `SERVER_LOG=<file>` keeps the
// app's standard error there.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const WARM_UP = Number(process.env.WARM_UP ?? 8_000);
const REQUESTS = Number(process.env.REQUESTS ?? 3_000);
const body = JSON.stringify({ amount: 1000 });

for (const tool of ["valgrind", "callgrind_control"]) {
  if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
    console.log(`bench/http-instructions.mjs: ${tool} is not installed, nothing measured`);
    process.exit(0);
  }
}

const args = process.argv.slice(2);
const triples = args.length === 3 && !args[0].includes(":") ? [args] : args.map((arg) => arg.split(":"));
// Side by side: callgrind runs one thread, and each count is the same whatever runs beside it.
await Promise.all(
  triples.map(async ([framework, guard, mode]) => {
    if (mode !== "new" && mode !== "replay") throw new Error(`mode is new or replay, not ${mode}`);
    const perRequest = await count(framework, guard, mode);
    console.log(`${framework} ${guard} ${mode}: ${(perRequest / 1000).toFixed(1)}k instructions per request`);
  }),
);

async function count(framework, guard, mode) {
  const dir = mkdtempSync(join(tmpdir(), "oncely-http-instructions-"));
  const server = spawn(
    "valgrind",
    [
      "--tool=callgrind",
      "--smc-check=all-non-file",
      "--separate-threads=yes",
      "--instr-atstart=no",
      `--callgrind-out-file=${dir}/cg.%p`,
      process.execPath,
      ...(process.env.PERF_MAP ? ["--perf-basic-prof"] : []),
      fileURLToPath(new URL("./server.mjs", import.meta.url)),
      framework,
      guard,
      process.env.STORE ?? "memory",
    ],
    {
      env: { ...process.env, BENCH_STORE_TIMEOUT: "600000" },
      stdio: ["ignore", "ignore", process.env.SERVER_LOG ? openSync(process.env.SERVER_LOG, "a") : "ignore", "ipc"],
    },
  );
  try {
    const [{ port }] = await once(server, "message");
    // A new connection after the counters are zeroed: the server may have closed the idle one meanwhile.
    let agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let n = 0;
    const send = async () => {
      const key = mode === "new" ? `key-${++n}` : "key-replayed";
      const req = request({
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/charges",
        agent,
        headers: { "content-type": "application/json", "content-length": body.length, "idempotency-key": key },
      });
      req.end(body);
      const [res] = await once(req, "response");
      res.resume();
      await once(res, "end");
      if (res.statusCode !== 201) throw new Error(`${framework} ${guard} ${mode}: status ${res.statusCode}`);
    };
    for (let i = 0; i < WARM_UP; i++) await send();
    execFileSync("callgrind_control", ["--instr=on", String(server.pid)], { stdio: "ignore" });
    execFileSync("callgrind_control", ["--zero", String(server.pid)], { stdio: "ignore" });
    agent.destroy();
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < REQUESTS; i++) await send();
    execFileSync("callgrind_control", ["--dump", String(server.pid)], { stdio: "ignore" });
    agent.destroy();
    // The main thread's part of the last dump (files cg.<pid>.<dump>-<thread>).
    const dumps = readdirSync(dir).filter((file) => file.startsWith(`cg.${server.pid}.`) && file.endsWith("-01"));
    const latest = dumps
      .sort((a, b) => Number(a.split(".").at(-1).split("-")[0]) - Number(b.split(".").at(-1).split("-")[0]))
      .at(-1);
    // KEEP_DUMPS=<folder> keeps each dump there, for callgrind_annotate.
    const keep = process.env.KEEP_DUMPS;
    if (keep) execFileSync("cp", [join(dir, latest), join(keep, `${framework}-${guard}-${mode}.callgrind`)]);
    // With PERF_MAP=1 the app runs with --perf-basic-prof: its map of the JIT's code names JavaScript in the dump.
    if (keep && process.env.PERF_MAP) {
      execFileSync("cp", [`/tmp/perf-${server.pid}.map`, join(keep, `${framework}-${guard}-${mode}.map`)]);
    }
    const text = readFileSync(join(dir, latest), "utf8");
    return Number((/^summary: (\d+)/m.exec(text) ?? /^totals: (\d+)/m.exec(text))[1]) / REQUESTS;
  } finally {
    server.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}
