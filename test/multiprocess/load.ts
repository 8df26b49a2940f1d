import { Pool } from "undici";
import type { Worker } from "./cluster.js";

/** One HTTP answer as the checks need it. `status` 0 means the request failed below HTTP (the body says how). */
export interface Answer {
  worker: number;
  status: number;
  replayed: boolean;
  body: string;
}

/** Keep-alive connection pools to the workers, bounded so the parent never opens thousands of sockets. */
export interface Clients {
  /** POSTs the same order body with `key` to worker number `worker`. */
  post(worker: number, key: string): Promise<Answer>;
  /** Drops every connection, also ones a failed test left with requests pending. */
  close(): Promise<void>;
}

const ORDER = JSON.stringify({ item: "book", quantity: 1 });

export function connect(workers: readonly Worker[], connectionsPerWorker: number): Clients {
  const pools = workers.map((worker) => new Pool(worker.origin, { connections: connectionsPerWorker }));
  return {
    async post(worker, key) {
      try {
        const { statusCode, headers, body } = await pools[worker]!.request({
          method: "POST",
          path: "/orders",
          headers: { "content-type": "application/json", "idempotency-key": key },
          body: ORDER,
        });
        return {
          worker,
          status: statusCode,
          replayed: headers["idempotent-replayed"] === "true",
          body: await body.text(),
        };
      } catch (error) {
        return { worker, status: 0, replayed: false, body: String(error) };
      }
    },
    close: () => Promise.all(pools.map((pool) => pool.destroy())).then(() => undefined),
  };
}

/** Sends `count` requests with one key at once, round-robin over the workers (the pools queue what they cannot send). */
export function oneKeyStorm(clients: Clients, workerCount: number, key: string, count: number): Promise<Answer[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => clients.post(i % workerCount, key)));
}

/**
 * Sends every key twice at the same moment, to two different workers, keeping at most `concurrency` pairs in
 * flight. The pairs rotate over all worker combinations, so every pair of processes races on some keys.
 */
export async function keyPairs(
  clients: Clients,
  workerCount: number,
  keys: readonly string[],
  concurrency: number,
): Promise<[Answer, Answer][]> {
  const answers: [Answer, Answer][] = new Array(keys.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < keys.length; i = next++) {
      const first = i % workerCount;
      const second = (first + 1 + (Math.floor(i / workerCount) % (workerCount - 1))) % workerCount;
      answers[i] = await Promise.all([clients.post(first, keys[i]!), clients.post(second, keys[i]!)]);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return answers;
}
