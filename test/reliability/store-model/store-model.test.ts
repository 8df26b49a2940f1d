import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { seed, sized, soak, soakMillis } from "../budget.js";
import { available, type Backend, backends } from "./backends.js";
import { HOLDERS, IDS, play, stepsArbitrary, type Tally } from "./commands.js";
import { margins } from "./model.js";

/**
 * Model-based tests of the store contract (issue 8), on every store's real backend. Each run is a random sequence of
 * claim, renew, complete, release, get and delete by three holders over three ids, with time passing between them
 * (an injected clock for memory and SQLite, real sleeps over leases and ttls of hundreds of ms for the networked
 * stores), and some pairs run at once. Every answer is checked against the reference model in model.ts.
 *
 * Boundaries, on purpose:
 * - A networked store judges time by its backend's clock at some instant inside the call. Only when a lease or ttl
 *   edge falls inside `[sent - margin, answered + margin]` (margin: 2 ms, more if the backend's clock was measured
 *   further off ours) may the answer be either side of it; everywhere else the model is exact.
 * - A delete ends the record: its successor's tokens start over from the clock, and the holders of the deleted record
 *   forget their tokens. Fencing across an operator's delete is not modelled.
 * - Every claim asks for one lease and one ttl (the engine's per-route values); complete picks one of two ttls.
 *
 * Replay a failure with the ONCELY_SEED, ONCELY_MODEL_PATH and ONCELY_MODEL_STORE its message prints.
 */

interface Size {
  runs: [bounded: number, soak: number];
  /** The shortest and the longest run, in steps (a shrunk counterexample may be shorter). */
  steps: [min: number, max: number];
  /** The store's share of a soak run's minutes. */
  share: number;
}

const sizes: Record<string, Size> = {
  memory: { runs: [1_000, 10_000_000], steps: [1, 50], share: 0.08 },
  sqlite: { runs: [600, 10_000_000], steps: [1, 50], share: 0.08 },
  // Async calls into a local file: slower per step than SQLite's synchronous drivers.
  "libsql (file)": { runs: [100, 10_000_000], steps: [1, 50], share: 0.04 },
  redis: { runs: [24, 100_000], steps: [1, 32], share: 0.2 },
  // The same scripts as redis, over HTTP through the REST fixture: each step is a request, a little slower.
  "upstash (REST fixture before Redis)": { runs: [24, 100_000], steps: [1, 32], share: 0.05 },
  postgres: { runs: [24, 100_000], steps: [1, 32], share: 0.2 },
  "mysql (MariaDB)": { runs: [24, 100_000], steps: [1, 32], share: 0.15 },
  "mysql (MySQL 8 path, on MariaDB)": { runs: [12, 100_000], steps: [1, 32], share: 0.1 },
  "redis (Cluster, 3 masters)": { runs: [25, 100_000], steps: [1, 32], share: 0.1 },
  "dynamodb (dynalite)": { runs: [20, 100_000], steps: [1, 32], share: 0.15 },
};

const only = process.env.ONCELY_MODEL_STORE;
const path = process.env.ONCELY_MODEL_PATH;

async function runModel(backend: Backend): Promise<void> {
  const size = sizes[backend.name]!;
  const { subject, close } = await backend.open();
  const started = Date.now();
  const marginsBefore = margins.used;
  let runs = 0;
  let steps = 0;
  const tally: Tally = {};
  try {
    const property = fc.asyncProperty(stepsArbitrary(subject.waits, ...size.steps), async (run) => {
      runs++;
      steps += run.length;
      // Fresh ids per run (and per shrink attempt): runs share the store, never a record.
      const base = `m-${runs}-${randomUUID().slice(0, 8)}`;
      await play(
        subject,
        run,
        Array.from({ length: IDS }, (_, i) => `${base}-${i}`),
        tally,
      );
    });
    const details = await fc.check(property, {
      seed,
      numRuns: sized(...size.runs),
      ...(path ? { path } : {}),
      ...(soak ? { interruptAfterTimeLimit: soakMillis(size.share), markInterruptAsFailure: false } : {}),
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `[store-model] ${backend.name}: ${details.numRuns} runs (${runs} played, shrinks included), ${steps} steps, ` +
        `${HOLDERS} holders x ${IDS} ids, ${margins.used - marginsBefore} answers inside an edge's margin, ` +
        `${seconds} s, seed ${seed}${details.interrupted ? " (soak time reached)" : ""}`,
    );
    const answers = Object.entries(tally).sort(([a], [b]) => a.localeCompare(b));
    console.log(`[store-model] ${backend.name} answers: ${answers.map(([k, v]) => `${k} ${v}`).join(", ")}`);
    if (details.failed) {
      const replay =
        `ONCELY_SEED=${seed} ONCELY_MODEL_PATH='${details.counterexamplePath}' ONCELY_MODEL_STORE='${backend.name}' ` +
        "npx vitest run --config vitest.reliability.config.ts test/reliability/store-model";
      const error =
        details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
      throw new Error(
        `[store-model] ${backend.name} broke the store contract.\nReplay: ${replay}\n` +
          `Shrunk counterexample (${details.counterexample?.[0]?.length} steps):\n` +
          `${JSON.stringify(details.counterexample?.[0])}\n${error}`,
      );
    }
  } finally {
    await close();
  }
}

describe(`store contract model (seed ${seed})`, async () => {
  console.log(`[store-model] seed ${seed} (ONCELY_SEED=${seed} replays it)${soak ? ", soak run" : ""}`);
  for (const backend of backends) {
    if (only !== undefined && only !== backend.name) continue;
    if (!(await available(backend))) {
      it.skip(`${backend.name} (service not reachable)`, () => {});
      continue;
    }
    it(backend.name, async () => {
      await runModel(backend);
      expect(true).toBe(true);
    });
  }
});
