import { readFileSync } from "node:fs";

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
