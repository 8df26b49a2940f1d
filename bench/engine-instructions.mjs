// Instructions oncely's engine executes per request without HTTP, on the memory store, counted by valgrind's callgrind:
// the figure that does not move with the machine's other load, where bench/engine.mjs's microseconds do. The loop is
// bench/engine-loop.mjs's (`begin`, then `finish` for a new key). Node runs `--single-threaded`, so the collector and
// the optimizing compiler work on the main thread and are counted. After WARM_UP requests (in fewer, TurboFan is still
// compiling) the counters are zeroed, REQUESTS more are sent, and the counters dumped (`callgrind_control`): the
// dump's total over REQUESTS is one request. A new key's key is a counter's text, so the loop's own key costs little.
//
// `node bench/engine-instructions.mjs [new] [replay]` (both by default), after `npm run build`; the modes run side by
// side (callgrind runs one thread, and each count is the same whatever runs beside it). Two runs of one mode differ by
// up to a few thousand instructions with the heap's layout: compare a change side by side, twice. `PROFILE_DIR` keeps
// the dumps (default: a temporary folder), for `callgrind_annotate --inclusive=yes`.
import { execFile, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { MemoryStore } from "../dist/index.js";
import { benchGuard, request } from "./engine-loop.mjs";

const WARM_UP = Number(process.env.WARM_UP ?? 20_000);
const REQUESTS = Number(process.env.REQUESTS ?? 20_000);
const [first, ...rest] = process.argv.slice(2);

if (first === "--drive") {
  // Under callgrind: one mode's warm-up, the counters zeroed, the counted requests, the counters dumped.
  const [mode, marker] = rest;
  const guard = benchGuard(new MemoryStore({ maxEntries: WARM_UP + REQUESTS + 1 }));
  let next = 0;
  const send = () =>
    mode === "new" ? request(guard, `key-${next++}`, "execute") : request(guard, "replayed-key", "respond");
  if (mode === "replay") await request(guard, "replayed-key", "execute");
  for (let i = 0; i < WARM_UP; i++) await send();
  callgrindControl("-z", `${marker}.zeroed`);
  for (let i = 0; i < REQUESTS; i++) await send();
  callgrindControl("-d", `${marker}.dumped`);
} else {
  if (spawnSync("sh", ["-c", "command -v valgrind && command -v callgrind_control"]).status !== 0) {
    console.log("bench/engine-instructions.mjs: valgrind is not installed, nothing measured");
    process.exit(0);
  }
  const modes = first ? [first, ...rest] : ["new", "replay"];
  const dir = process.env.PROFILE_DIR ?? mkdtempSync(join(tmpdir(), "engine-instructions-"));
  const counts = await Promise.all(modes.map((mode) => count(mode, join(dir, `callgrind.engine.${mode}`))));
  console.log(`oncely's engine, MemoryStore, instructions per request (callgrind, ${REQUESTS} after ${WARM_UP})`);
  for (const [index, mode] of modes.entries()) {
    console.log(`  ${mode.padEnd(7)} ${Math.round(counts[index]).toLocaleString("en").padStart(9)}   ${dir}`);
  }
}

/** One mode under callgrind: its instructions per request. */
async function count(mode, out) {
  await promisify(execFile)(
    "valgrind",
    [
      "--tool=callgrind",
      `--callgrind-out-file=${out}`,
      process.execPath,
      "--single-threaded",
      fileURLToPath(import.meta.url),
      "--drive",
      mode,
      out,
    ],
    { maxBuffer: 1 << 24 },
  );
  const totals = /^(?:summary|totals): (\d+)/m.exec(readFileSync(`${out}.1`, "utf8"));
  return Number(totals[1]) / REQUESTS;
}

/**
 * Sends a command to the callgrind this process runs under, and returns once it is done: callgrind reads its commands
 * only while the process runs code, so this one spins until the command's marker file appears.
 */
function callgrindControl(command, marker) {
  spawn("sh", ["-c", `callgrind_control ${command} ${process.pid} >/dev/null && : > ${marker}`], { stdio: "ignore" });
  while (!existsSync(marker)) {}
}
