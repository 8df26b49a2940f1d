// What a guarded MCP tool call costs, against the goal: a replayed tool call costs no more than a tool call
// that does nothing, on the memory store. The SDK's client and server in this process, MemoryStore, one call at a time.
// The ways a call is made:
//   - noop: a tool that does nothing, on a server without oncely (the baseline);
//   - noop-key: the same call carrying a key in `_meta`, which that server ignores (what the SDK itself spends on
//     the field: it validates `_meta` with zod on both sides);
//   - passthrough: the same tool on a guarded server, called without a key (what the guard costs a call it passes);
//   - replay: a keyed call answered from its record (a retry: the tool does not run);
//   - first: a keyed call with a new key each time (a first execution: claim, run, store);
//   - floor: a keyed call to a server without oncely that answers every call with one stored result, parsed from its
//     JSON and marked as a replay, at the protocol layer (where the guard answers): what the SDK spends on a replay
//     before any lookup, the least a replay can cost through it.
//
// `node bench/mcp.mjs` measures CPU time per call (process.cpuUsage: this process runs client and server, so time spent
// waiting for a CPU on a loaded machine is not counted), over the SDK's in-memory transport and over stateless
// Streamable HTTP on a real socket; the ways interleaved over 11 rounds, medians printed.
// `node bench/mcp.mjs --instructions` counts instructions per call instead, under valgrind's callgrind: the figure that
// does not move with the machine's load. Each way runs twice after the same warm-up, with CALLS and 11 x CALLS calls;
// the difference divided by 10 x CALLS is one call. Node runs with `--single-threaded`: the JIT's compiler and the
// garbage collector then work on the main thread, in the same order on every run, where on their own threads they
// made a way's figure move by a tenth to a third from run to run; two runs of one way now differ by 0.02 %. The JIT
// still compiles after the warm-up, which the long window averages in. The two runs of a way go side by side. Slow
// (minutes per way); `CALLS`, `WARM_UP` and `WAYS` (comma-separated) set a run's length and ways.
// `node bench/mcp.mjs --profile` counts them another way, as issue 22 measures them: one callgrind run per way, the
// counters zeroed (`callgrind_control -z`) after WARM_UP calls and dumped (`-d`) after CALLS more, the dump divided by
// CALLS (`CALLS=10000 WARM_UP=10000`: V8 optimizes zod's parse again and again until about 8,000 calls, and a window
// holding one such compilation counts 21,000 more instructions per call; `PROFILE_DIR` keeps the dumps, default
// /tmp). The dump is for `callgrind_annotate --inclusive=yes`: natives by name (crypto, JSON, the collector, the
// compiler); JavaScript shows as JIT addresses, which `PERF_MAP=1` names: the driven node runs with
// `--perf-basic-prof`, and its map of JIT code is kept beside the dump.
// Run after `npm run build` (the built package: under tsx, every dynamic import the engine makes goes through its
// loader hooks, which costs more than the call being measured).
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { Protocol } from "@modelcontextprotocol/sdk/shared/protocol.js";
import { CallToolRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { createIdempotency, MemoryStore } from "../dist/index.js";
import { guardTools, REPLAYED_META } from "../dist/mcp/index.js";

const ROUNDS = 11;
/** Calls before counting instructions: enough for the JIT to have optimized the hot path. */
const WARM_UP = Number(process.env.WARM_UP ?? 4000);
const args = { amount: 1999, note: "a charge of about the size agents send" };

/** name, the server (`plain`, `guarded` or `floor`), and the call's `_meta` (`fresh` numbers new keys). */
const WAYS = {
  noop: { label: "tool that does nothing, no oncely", server: "plain", meta: () => undefined },
  "noop-key": { label: "the same, a key in _meta (ignored)", server: "plain", meta: () => ({ idempotencyKey: "k" }) },
  passthrough: { label: "guarded server, call without a key", server: "guarded", meta: () => undefined },
  replay: { label: "replayed call (same key)", server: "guarded", meta: () => ({ idempotencyKey: "k" }) },
  first: {
    label: "first execution (new key)",
    server: "guarded",
    meta: (fresh) => ({ idempotencyKey: `new-${fresh}` }),
  },
  floor: { label: "the SDK's share of a replay (no lookup)", server: "floor", meta: () => ({ idempotencyKey: "k" }) },
  // oncely's lookup alone: `idem.run` with the options the guard passes, replaying one key, without the SDK.
  lookup: { label: "idem.run replaying a key (no SDK)", server: "none", meta: () => undefined },
};

function makeServer(kind, idempotency) {
  if (kind === "floor") return floorServer();
  const server = new McpServer({ name: "bench", version: "1.0.0" });
  if (kind === "guarded") guardTools(server, { idempotency });
  server.registerTool("noop", { inputSchema: { amount: z.number(), note: z.string() } }, async () => ({
    content: [{ type: "text", text: "done" }],
  }));
  return server;
}

/**
 * The floor way's server: every `tools/call` answered with the stored result of the noop tool (its JSON parsed afresh,
 * as a store hands it back) marked as a replay, by a handler installed where the guard installs its own.
 */
function floorServer() {
  const server = new Server({ name: "bench", version: "1.0.0" }, { capabilities: { tools: {} } });
  const stored = JSON.stringify({ content: [{ type: "text", text: "done" }] });
  Protocol.prototype.setRequestHandler.call(server, CallToolRequestSchema, async () => {
    const result = JSON.parse(stored);
    result._meta = { [REPLAYED_META]: true };
    return result;
  });
  return server;
}

/** A client of a server with the noop tool (`kind`: see WAYS), in process or over stateless Streamable HTTP. */
async function connected(kind, transport) {
  const idempotency = kind === "guarded" ? createIdempotency({ store: new MemoryStore(), logger: false }) : undefined;
  const client = new Client({ name: "bench", version: "1.0.0" });
  if (transport === "in-process") {
    const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
    await makeServer(kind, idempotency).connect(serverSide);
    await client.connect(clientSide);
    return { client, close: () => client.close() };
  }
  const http = createServer(async (request, response) => {
    const server = makeServer(kind, idempotency);
    const serverTransport = new StreamableHTTPServerTransport({ enableJsonResponse: true });
    response.on("close", () => void server.close());
    await server.connect(serverTransport);
    await serverTransport.handleRequest(request, response);
  });
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  const url = new URL(`http://127.0.0.1:${http.address().port}/mcp`);
  await client.connect(new StreamableHTTPClientTransport(url));
  return {
    client,
    close: async () => {
      await client.close();
      http.closeAllConnections();
      http.close();
    },
  };
}

/** One way's call, on its own connected client. */
async function caller(way, transport) {
  const { server, meta } = WAYS[way];
  if (server === "none") return lookupCaller();
  const connection = await connected(server, transport);
  let fresh = 0;
  const call = () => {
    const _meta = meta(fresh++);
    return connection.client.callTool(
      _meta ? { name: "noop", arguments: args, _meta } : { name: "noop", arguments: args },
    );
  };
  await call(); // a replay's record exists before the first measured call
  return { call, close: connection.close };
}

/** The lookup way's caller: the guard's `idem.run` of a replay, its answer marked as the guard marks it. */
async function lookupCaller() {
  const idempotency = createIdempotency({ store: new MemoryStore(), logger: false });
  const work = async () => ({ content: [{ type: "text", text: "done" }] });
  const call = async () => {
    const result = await idempotency.run("k", work, {
      onInFlight: "wait",
      waitTimeout: undefined,
      lease: undefined,
      ttl: undefined,
      scope: undefined,
      input: args,
      name: "tools/call noop",
    });
    result._meta ??= {};
    result._meta[REPLAYED_META] = true;
    return result;
  };
  await call();
  return { call, close: async () => {} };
}

/** CPU µs per call of each way, interleaved over the rounds. */
async function measureCpu(transport, calls, ways) {
  const callers = await Promise.all(ways.map((way) => caller(way, transport)));
  for (const { call } of callers) for (let i = 0; i < calls / 5; i++) await call(); // warm-up
  const samples = ways.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, { call }] of callers.entries()) {
      const started = process.cpuUsage();
      for (let i = 0; i < calls; i++) await call();
      const { user, system } = process.cpuUsage(started);
      samples[index].push((user + system) / calls);
    }
  }
  await Promise.all(callers.map(({ close }) => close()));
  const perCall = Object.fromEntries(ways.map((way, index) => [way, median(samples[index])]));
  console.log(`MCP tools/call, ${transport}, MemoryStore, ${calls} calls x ${ROUNDS} rounds, CPU time (median)`);
  report(perCall, (value) => `${value.toFixed(1).padStart(7)} µs/call`);
}

/** Instructions per call of each way, counted by callgrind. */
async function measureInstructions(calls, ways) {
  const run = promisify(execFile);
  const self = fileURLToPath(import.meta.url);
  const count = async (way, n) => {
    const { stderr } = await run(
      "valgrind",
      [
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        process.execPath,
        "--single-threaded",
        self,
        "--drive",
        way,
        String(n),
      ],
      { maxBuffer: 1 << 24 },
    );
    return Number(/Collected : (\d+)/.exec(stderr)[1]);
  };
  const perCall = {};
  for (const way of ways) {
    // Both runs of a way at once: callgrind runs one thread, and each count is the same whatever runs beside it.
    const [long, short] = await Promise.all([count(way, 11 * calls), count(way, calls)]);
    perCall[way] = (long - short) / (10 * calls);
  }
  console.log(
    `MCP tools/call, in-process transport, MemoryStore, instructions per call (callgrind, ${calls} and ${11 * calls} calls after ${WARM_UP})`,
  );
  report(perCall, (value) => `${Math.round(value).toLocaleString("en").padStart(11)} instructions/call`);
}

/**
 * Instructions per call of each way, counted by callgrind between a zero after the warm-up and a dump after CALLS calls,
 * with the dump kept for `callgrind_annotate --inclusive=yes` (native functions by name: the SDK's and oncely's
 * JavaScript shows as JIT code, but the builtins, the runtime, crypto and the collector it calls are named).
 */
async function profile(calls, ways) {
  const run = promisify(execFile);
  const self = fileURLToPath(import.meta.url);
  const dir = process.env.PROFILE_DIR ?? "/tmp";
  const count = async (way) => {
    const out = `${dir}/callgrind.mcp.${way}`;
    await run(
      "valgrind",
      [
        "--tool=callgrind",
        `--callgrind-out-file=${out}`,
        process.execPath,
        "--single-threaded",
        ...(process.env.PERF_MAP ? ["--perf-basic-prof"] : []),
        self,
        "--drive-profiled",
        way,
        String(calls),
        out,
      ],
      { maxBuffer: 1 << 24 },
    );
    const totals = /^(?:summary|totals): (\d+)/m.exec(readFileSync(`${out}.1`, "utf8"));
    return { perCall: Number(totals[1]) / calls, file: `${out}.1` };
  };
  const perCall = {};
  // Two ways at a time: callgrind runs one thread, and each count is the same whatever runs beside it.
  for (let i = 0; i < ways.length; i += 2) {
    const pair = ways.slice(i, i + 2);
    for (const [index, { perCall: value, file }] of (await Promise.all(pair.map(count))).entries()) {
      perCall[pair[index]] = value;
      console.log(`  ${pair[index]}: ${file}`);
    }
  }
  console.log(
    `MCP tools/call, in-process transport, MemoryStore, instructions per call (callgrind, ${calls} calls after ${WARM_UP})`,
  );
  report(perCall, (value) => `${Math.round(value).toLocaleString("en").padStart(11)} instructions/call`);
}

/**
 * Sends a command to the callgrind this process runs under, and returns once it is done: callgrind reads its commands
 * only while the process runs code, so this one spins until the command's marker file appears.
 */
function callgrindControl(command, marker) {
  spawn("sh", ["-c", `callgrind_control ${command} ${process.pid} >/dev/null && : > ${marker}`], { stdio: "ignore" });
  while (!existsSync(marker)) {}
}

function report(perCall, format) {
  const baseline = perCall.noop;
  for (const [way, value] of Object.entries(perCall)) {
    console.log(`  ${WAYS[way].label.padEnd(38)} ${format(value)}  ${(value / baseline).toFixed(2)}x`);
  }
  if (perCall.replay !== undefined) {
    const ratio = perCall.replay / baseline;
    console.log(
      `  the goal, a replay costs no more than a call that does nothing: ${ratio.toFixed(2)}x, ${ratio <= 1 ? "met" : "not met"}`,
    );
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const [mode, ...rest] = process.argv.slice(2);
const CALLS = Number(process.env.CALLS ?? 1000);
if (mode === "--drive") {
  // One way, WARM_UP calls then the counted ones: what --instructions runs under callgrind.
  const [way, n] = rest;
  const { call, close } = await caller(way, "in-process");
  for (let i = 0; i < WARM_UP + Number(n); i++) await call();
  await close();
} else if (mode === "--drive-profiled") {
  // WARM_UP calls, the counters zeroed, the counted calls, the counters dumped: what --profile runs under callgrind.
  const [way, n, marker] = rest;
  const { call, close } = await caller(way, "in-process");
  for (let i = 0; i < WARM_UP; i++) await call();
  callgrindControl("-z", `${marker}.zeroed`);
  for (let i = 0; i < Number(n); i++) await call();
  callgrindControl("-d", `${marker}.dumped`);
  // With --perf-basic-prof, the map of the JIT's code (which Node deletes at exit), to name JavaScript in the dump.
  if (process.execArgv.includes("--perf-basic-prof")) copyFileSync(`/tmp/perf-${process.pid}.map`, `${marker}.map`);
  await close();
} else if (mode === "--profile") {
  await profile(CALLS, (process.env.WAYS ?? "noop,floor,replay").split(","));
} else if (mode === "--instructions") {
  await measureInstructions(CALLS, (process.env.WAYS ?? "noop,noop-key,floor,replay").split(","));
} else {
  const ways = Object.keys(WAYS);
  await measureCpu("in-process", CALLS, ways);
  await measureCpu("stateless Streamable HTTP (JSON answers)", Math.max(1, Math.round(CALLS / 5)), ways);
}
