import { readFileSync } from "node:fs";
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
