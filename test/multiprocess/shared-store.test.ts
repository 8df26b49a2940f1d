/**
 * Issue 3's multi-process test, for every store that processes can share: four Node processes, each a real HTTP
 * server guarding one route with its own engine, all on one store. 1,000 concurrent requests with one key must run
 * the handler once; 10,000 keys, each sent to two workers at the same moment, must each run exactly once.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serviceAvailable } from "../support/services.js";
import { type Backend, sharedBackends } from "./backends.js";
import { checkAnswers, executionsByKey, tally } from "./checks.js";
import { type Cluster, startCluster } from "./cluster.js";
import { type Clients, connect, keyPairs, oneKeyStorm } from "./load.js";

const WORKERS = 4;
/** The counts issue 3 names. A backend too slow for them says so (`Backend.reduced`), unless this is set. */
const ONE_KEY_REQUESTS = 1_000;
const DISTINCT_KEYS = 10_000;
const FULL_SCALE = process.env.ONCELY_MULTIPROCESS_FULL === "1";
/** Pairs in flight at once in the distinct-keys run: 128 requests, about 32 per worker. */
const PAIRS_IN_FLIGHT = 64;
/** Sockets per worker (unless the backend asks for fewer); the pools queue the rest of the one-key storm. */
const CONNECTIONS_PER_WORKER = 64;
/** Long enough that a duplicate usually arrives while the first run still holds the key. */
const HANDLER_MS = 5;
/**
 * Store operations may take this long before a request is answered 503. The default (1 s) is for production; here a
 * 2-core CI machine running other test files beside four workers can stall an answer for longer. The test's client
 * retries a 503 as oncely/client does (load.ts), but a claim the engine gave up on may still land and hold its key
 * until its lease (30 s) lapses, so 503s must stay rare. What this test checks is atomicity, which a timeout cannot
 * make or break.
 */
const STORE_TIMEOUT = 10_000;
/**
 * Each run takes seconds to a few tens of seconds on an idle machine, and far longer on a loaded one: where 24
 * processes wanted the 2 cores (load average 24), dynalite's runs took 204 s and 253 s instead of 16 s and 57 s
 * (dynalite is one process, and got about a twelfth of a core), and 454 s and 315 s at 25 with benchmarks of a higher
 * priority beside them. This bounds a run that stopped, not a slow one.
 */
const RUN_TIMEOUT = 600_000;
/** The full counts on dynalite take minutes. */
const FULL_SCALE_RUN_TIMEOUT = 900_000;

const backends: Backend[] = sharedBackends();

/** A list of problems, shown in full up to ten, so a failure says which keys and answers went wrong. */
const report = (problems: readonly string[]) => ({ count: problems.length, first: problems.slice(0, 10) });
const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);

for (const backend of backends) {
  const available = backend.service === undefined || (await serviceAvailable(backend.service));
  const title = `${backend.name}: ${WORKERS} processes sharing one store`;
  const reduced = FULL_SCALE ? undefined : backend.reduced;
  const oneKeyRequests = reduced?.oneKeyRequests ?? ONE_KEY_REQUESTS;
  const distinctKeys = reduced?.distinctKeys ?? DISTINCT_KEYS;
  const timeout = FULL_SCALE ? FULL_SCALE_RUN_TIMEOUT : RUN_TIMEOUT;

  describe.skipIf(!available)(available ? title : `${title} (server not reachable)`, () => {
    let cluster: Cluster | undefined;
    let clients: Clients | undefined;

    beforeAll(async () => {
      if (reduced) {
        console.warn(
          `[multiprocess] ${backend.name}: ${oneKeyRequests} requests on one key and ${distinctKeys} distinct keys ` +
            `instead of ${ONE_KEY_REQUESTS} and ${DISTINCT_KEYS}: ${reduced.why}. ` +
            "ONCELY_MULTIPROCESS_FULL=1 runs the full counts.",
        );
      }
      cluster = await startCluster(await backend.setUp(), {
        count: WORKERS,
        handlerMs: HANDLER_MS,
        storeTimeout: STORE_TIMEOUT,
      });
      clients = connect(cluster.workers, backend.connectionsPerWorker ?? CONNECTIONS_PER_WORKER);
    }, 60_000);

    afterAll(async () => {
      try {
        await clients?.close();
        await cluster?.stop();
      } finally {
        await backend.tearDown();
      }
    }, 60_000);

    it(
      `runs the handler once for ${oneKeyRequests} concurrent requests with one key`,
      async () => {
        const key = `one-key-${randomUUID()}`;
        const started = performance.now();
        const answers = await oneKeyStorm(clients!, WORKERS, key, oneKeyRequests);
        const { executions, events } = await cluster!.drain();
        console.log(
          `[multiprocess] ${backend.name}: ${answers.length} requests on one key over ${WORKERS} processes -> ` +
            `${executions.length} execution(s) in ${seconds(started)} s; answers ${JSON.stringify(tally(answers))}; ` +
            `events ${JSON.stringify(events)}`,
        );

        expect(executions.map((run) => run.key)).toEqual([key]);
        expect(report(checkAnswers(key, answers, executions[0]))).toEqual(report([]));
      },
      timeout,
    );

    it(
      `runs each of ${distinctKeys} keys exactly once when every key is sent to two processes at the same moment`,
      async () => {
        const run = randomUUID();
        const keys = Array.from({ length: distinctKeys }, (_, i) => `${run}-${i}`);
        const started = performance.now();
        const pairs = await keyPairs(clients!, WORKERS, keys, PAIRS_IN_FLIGHT);
        const { executions, events } = await cluster!.drain();
        const answers = pairs.flat();
        const processes = new Set(executions.map((execution) => execution.pid)).size;
        console.log(
          `[multiprocess] ${backend.name}: ${answers.length} requests on ${keys.length} keys (each sent twice) -> ` +
            `${executions.length} executions in ${processes} processes in ${seconds(started)} s; ` +
            `answers ${JSON.stringify(tally(answers))}; events ${JSON.stringify(events)}`,
        );

        const runs = executionsByKey(executions);
        const expected = new Set(keys);
        const wrongCounts = [
          ...[...runs]
            .filter(([, list]) => list.length > 1)
            .map(([key, list]) => `${key} ran ${list.length} times, in pids ${list.map((r) => r.pid)}`),
          ...keys.filter((key) => !runs.has(key)).map((key) => `${key} never ran`),
          ...[...runs.keys()].filter((key) => !expected.has(key)).map((key) => `${key} ran but was never sent`),
        ];
        expect(report(wrongCounts)).toEqual(report([]));
        expect(executions).toHaveLength(distinctKeys);
        expect(report(keys.flatMap((key, i) => checkAnswers(key, pairs[i]!, runs.get(key)?.[0])))).toEqual(report([]));
        // Every process took part: the races were between processes, not inside one.
        expect(processes).toBe(WORKERS);
      },
      timeout,
    );
  });
}
