/**
 * Issue 8's crash storm: four processes, each a real HTTP server with its own engine, share one store; a driver
 * sends every intent through `oncely/client` (one key per intent, retried through kills) while a chaos loop kills
 * workers with SIGKILL, at random moments and at four deliberate points (before the claim, inside the handler, after
 * the effect before `complete`, after `complete` before the response), and restarts them on the same port (a warm
 * spare, forked ahead, takes the dead worker's port). Every run of the handler writes one row to a PostgreSQL ledger,
 * so duplicates and lost intents are counted from the database; each worker's window log (window-log.ts) says which
 * effects a kill caught after they were written and before their outcome was stored.
 *
 * - PostgreSQL transactional mode (the ledger row commits with the claim and the response): no duplicate, no lost
 *   intent, over at least 200 kills (1,000 in a soak run).
 * - Every other store (the ledger row is its own autocommit write): every intent gets one final answer that the
 *   store replays afterwards; an effect runs twice only when a kill caught it after its write and before its outcome
 *   was stored (each duplicate row is matched to such a window in the killed process's log).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Backend,
  dynamodbBackend,
  mysqlBackend,
  postgresBackend,
  redisBackend,
  redisClusterBackend,
  sqliteBackend,
} from "../multiprocess/backends.js";
import { clusterAvailable } from "../support/redis-cluster.js";
import { serviceAvailable, services } from "../support/services.js";
import { sized, soak, soakMillis } from "./budget.js";
import { startChaos } from "./crash-storm/chaos.js";
import { drive, replayAll } from "./crash-storm/driver.js";
import { bundleWorker, startFleet } from "./crash-storm/fleet.js";
import { createLedger } from "./crash-storm/ledger.js";
import { KILL_POINTS } from "./crash-storm/protocol.js";
import { judge, type Verdict } from "./crash-storm/verdict.js";

const WORKERS = 4;
/** Warm processes waiting to replace a killed worker (see fleet.ts); the kill rate is how fast they are refilled. */
const SPARES = sized(6, 10);
/**
 * A killed holder's claim blocks its key this long. Long enough that a live holder on a loaded 2-core machine never
 * loses its lease (it renews every lease/3), which would be a duplicate no kill caused.
 */
const LEASE = 3_000;
/** A stalled store answers 503 only after this long: the storm is about kills, not timeouts. */
const STORE_TIMEOUT = 10_000;

interface Storm {
  name: string;
  backend: Backend;
  transactional: boolean;
  /** At least this many intents, and at least this many kills: the driver keeps going until both are reached. */
  intents: number;
  kills: number;
  /** In a soak run, the storm also lasts at least this share of the soak minutes. */
  soakShare: number;
  lanes: number;
  /** The chaos loop's pause between kills, per slot, ms. */
  gap: [number, number];
  /** Why the counts are lower than the others', printed with the result. */
  reduced?: string;
}

const storms: Storm[] = [
  {
    name: "postgres (transactional)",
    backend: postgresBackend(),
    transactional: true,
    intents: sized(1_000, 5_000),
    kills: sized(200, 1_000),
    soakShare: 0.3,
    lanes: 12,
    gap: [50, 300],
  },
  ...[sqliteBackend(), redisBackend(), postgresBackend(), mysqlBackend()].map(
    (backend): Storm => ({
      name: backend.name,
      backend,
      transactional: false,
      intents: sized(1_000, 2_000),
      kills: sized(30, 100),
      soakShare: 0.15,
      lanes: 12,
      gap: [300, 1_000],
      reduced: "fewer kills than on PostgreSQL's transactional mode, where the 200 (1,000) the issue asks for are kept",
    }),
  ),
  {
    name: "redis (Cluster, 3 masters)",
    backend: redisClusterBackend(),
    transactional: false,
    intents: sized(500, 2_000),
    kills: sized(20, 100),
    soakShare: 0.1,
    lanes: 12,
    gap: [300, 1_000],
    reduced: "a second Redis storm, on a Cluster the test starts: fewer intents than the standalone one's",
  },
  {
    name: "dynamodb (dynalite)",
    backend: dynamodbBackend(),
    transactional: false,
    intents: sized(200, 500),
    kills: sized(10, 30),
    soakShare: 0.1,
    lanes: 6,
    gap: [500, 1_500],
    reduced: "dynalite serves about 130 claims a second on one core",
  },
];

/** Every store's figures, printed as one table when the file ends. */
const summary: string[] = [];

afterAll(() => {
  if (summary.length === 0) return;
  const header =
    "| store | intents | kills (before-claim / in-handler / after-effect / after-complete / random) | duplicates | " +
    "window kills (open effects) | lost | unanswered | seconds |";
  console.log(
    [`[crash-storm] ${soak ? "soak" : "bounded"} run`, header, "| --- | --- | --- | --- | --- | --- | --- | --- |"]
      .concat(summary)
      .join("\n"),
  );
});

const show = (problems: readonly string[]) => ({ count: problems.length, first: problems.slice(0, 10) });

for (const storm of storms) {
  const { backend } = storm;
  const available = backend.cluster
    ? await clusterAvailable()
    : backend.service === undefined || (await serviceAvailable(backend.service));
  // The ledger lives in PostgreSQL whatever the store.
  const ledgerAvailable = available && (backend.service === "postgres" || (await serviceAvailable("postgres")));
  const title = `crash storm on ${storm.name}: ${WORKERS} processes, kill -9 and restart`;

  describe.skipIf(!ledgerAvailable)(ledgerAvailable ? title : `${title} (server not reachable)`, () => {
    let logDir: string;
    let bundle: Awaited<ReturnType<typeof bundleWorker>> | undefined;
    let ledger: Awaited<ReturnType<typeof createLedger>> | undefined;

    beforeAll(async () => {
      logDir = mkdtempSync(join(tmpdir(), "oncely-crash-storm-"));
      bundle = await bundleWorker();
      ledger = await createLedger(services.postgres.url);
    });

    afterAll(async () => {
      try {
        await ledger?.drop();
        await backend.tearDown();
      } finally {
        bundle?.remove();
        rmSync(logDir, { recursive: true, force: true });
      }
    });

    it(
      storm.transactional
        ? `runs every intent exactly once over at least ${storm.kills} kills`
        : `answers every intent once; an effect runs twice only when a kill caught it before complete`,
      async () => {
        const started = performance.now();
        const fleet = await startFleet(bundle!.script, WORKERS, SPARES, {
          store: await backend.setUp(),
          transactional: storm.transactional,
          lease: LEASE,
          storeTimeout: STORE_TIMEOUT,
          ledger: { url: services.postgres.url, table: ledger!.table },
          logDir,
        });
        let verdict: Verdict;
        try {
          const chaos = startChaos(fleet, { gap: storm.gap, armTimeout: 2_000, randomShare: 0.2, minLive: 1, logDir });
          const soakUntil = performance.now() + soakMillis(storm.soakShare);
          // Hard cap, so a chaos loop that cannot kill (every start failing) ends the run instead of hanging it.
          const cap = storm.intents * 50;
          const outcomes = await drive(fleet, {
            lanes: storm.lanes,
            more: (started) =>
              started < cap &&
              (started < storm.intents || chaos.count() < storm.kills || performance.now() < soakUntil),
          });
          const deaths = await chaos.stop();
          const mismatches = await replayAll(fleet, outcomes, storm.lanes);
          verdict = judge(outcomes, await ledger!.rows(), deaths, logDir, fleet.pids);
          const seconds = ((performance.now() - started) / 1000).toFixed(1);
          const kills = KILL_POINTS.map((point) => verdict.kills[point]).join(" / ") + ` / ${verdict.kills.random}`;
          summary.push(
            `| ${storm.name} | ${verdict.intents} | ${verdict.totalKills} (${kills}) | ${verdict.duplicates} | ` +
              `${verdict.windowKills} (${verdict.openWindows}) | ${verdict.lost.length} | ${verdict.unanswered.length} | ${seconds} |`,
          );
          console.log(
            `[crash-storm] ${storm.name}: ${verdict.intents} intents, ${verdict.totalKills} kills ` +
              `${JSON.stringify(verdict.kills)}, ${verdict.duplicates} duplicate effect(s), ${verdict.windowKills} ` +
              `kill(s) inside the effect-before-complete window (${verdict.openWindows} effect(s) open), ` +
              `${verdict.lost.length} lost, ${verdict.unanswered.length} unanswered, ${verdict.fenced} fenced, ` +
              `${verdict.strays} stray row(s), in ${seconds} s` +
              (storm.reduced ? ` (reduced counts: ${storm.reduced})` : ""),
          );

          expect(show(verdict.unanswered)).toEqual(show([]));
          expect(show(mismatches)).toEqual(show([]));
          expect(show(verdict.lost)).toEqual(show([]));
          expect(verdict.strays).toBe(0);
          expect(verdict.kills.unexpected).toBe(0);
          expect(verdict.intents).toBeGreaterThanOrEqual(storm.intents);
          expect(verdict.totalKills).toBeGreaterThanOrEqual(storm.kills);
          if (storm.transactional) {
            expect(verdict.duplicates).toBe(0);
          } else {
            expect(show(verdict.unexplained)).toEqual(show([]));
            expect(verdict.duplicates).toBeLessThanOrEqual(verdict.openWindows);
          }
        } finally {
          await fleet.stop();
        }
      },
    );
  });
}
