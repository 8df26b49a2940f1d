import { setTimeout as sleep } from "node:timers/promises";
import { Pool } from "undici";
import { parseRetryAfter } from "../../src/client/retry-after.js";
import type { Worker } from "./cluster.js";

/**
 * One HTTP answer as the checks need it: the last one the request got, after any 503 it retried. `status` 0 means
 * the request failed below HTTP (the body says how).
 */
export interface Answer {
  worker: number;
  status: number;
  replayed: boolean;
  body: string;
  /** The 503s (store unavailable or slower than `storeTimeout`) answered before this answer, each one retried. */
  retried503: number;
}

/**
 * How often one request retries a 503, as oncely/client does by default (`retries: 3`). A 503 says the handler did
 * not run and the client may send the request again after `Retry-After`; what the checks judge is what the client
 * ends with, so a store that stalled past `storeTimeout` under load is not read as a lost request. A store that keeps
 * failing still fails the test: the fourth 503 is the answer. A 409 is not retried (the client would): it is already
 * what the checks want of a duplicate, proof that it met the one run in flight.
 */
const RETRIES_503 = 3;

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
  const send = async (worker: number, key: string, retried503: number): Promise<Answer> => {
    try {
      const { statusCode, headers, body } = await pools[worker]!.request({
        method: "POST",
        path: "/orders",
        headers: { "content-type": "application/json", "idempotency-key": key },
        body: ORDER,
      });
      const text = await body.text();
      if (statusCode === 503 && retried503 < RETRIES_503) {
        // oncely sends Retry-After with every 503 (1 s for a store that failed or timed out).
        await sleep(parseRetryAfter(headers["retry-after"] as string | undefined) ?? 1_000);
        return send(worker, key, retried503 + 1);
      }
      return {
        worker,
        status: statusCode,
        replayed: headers["idempotent-replayed"] === "true",
        body: text,
        retried503,
      };
    } catch (error) {
      return { worker, status: 0, replayed: false, body: String(error), retried503 };
    }
  };
  return {
    post: (worker, key) => send(worker, key, 0),
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
