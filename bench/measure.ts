import { type ChildProcess, fork, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import autocannon from "autocannon";

/** The median: the benchmarks repeat each measurement, and one disturbed run must not move the result. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * utime + stime of a process, µs (Linux /proc; clock ticks of 10 ms). CPU time per request says what a request
 * costs the server even when the load generator, on the same cores, limits the throughput.
 */
export function cpuMicroseconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/**
 * `seconds` of autocannon load: `connections` connections POSTing `body` as JSON to `url`, each request with the
 * Idempotency-Key `key()` returns (none when it returns undefined).
 */
export function postLoad(options: {
  url: string;
  body: string;
  connections: number;
  seconds: number;
  key: () => string | undefined;
}): Promise<autocannon.Result> {
  const headers = { "content-type": "application/json" };
  return autocannon({
    url: options.url,
    method: "POST",
    connections: options.connections,
    duration: options.seconds,
    body: options.body,
    headers,
    requests: [
      {
        setupRequest: (request) => {
          const key = options.key();
          return { ...request, headers: key === undefined ? headers : { ...headers, "idempotency-key": key } };
        },
      },
    ],
  });
}

/**
 * Where taskset exists and there are two CPUs or more, moves this process (the load generator, all its threads) off
 * CPU 0 and returns a function that starts a server pinned to CPU 0, with an IPC channel as `fork` gives. Each then
 * has a core of its own, and the server's CPU, not the scheduler's choices, limits a run. Elsewhere servers are forked
 * unpinned.
 */
export function serverLauncher(): {
  pinned: boolean;
  start: (script: string, args: string[], env: NodeJS.ProcessEnv) => ChildProcess;
} {
  const cpus = availableParallelism();
  const moved =
    cpus >= 2 && spawnSync("taskset", ["-a", "-p", "-c", `1-${cpus - 1}`, String(process.pid)]).status === 0;
  if (!moved) return { pinned: false, start: (script, args, env) => fork(script, args, { env }) };
  return {
    pinned: true,
    // taskset execs node in its own place, so the child is node itself, with the IPC channel fork would give it.
    start: (script, args, env) =>
      spawn("taskset", ["-c", "0", process.execPath, script, ...args], {
        env,
        stdio: ["inherit", "inherit", "inherit", "ipc"],
      }),
  };
}
