import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { seed, sized } from "./budget.js";
import { adapters } from "./fuzz/adapters.js";
import { type BackendName, openBackend } from "./fuzz/backends.js";
import { fuzzCase, oversizeCase } from "./fuzz/cases.js";
import { checkRecordCount, heapAfterGc, runCase, startFuzzApp } from "./fuzz/runner.js";

/**
 * Issue 8, fuzzed input: random keys (empty, huge, unicode, control bytes, sf-string edge cases, repeated headers),
 * methods, content types and bodies (malformed and deeply nested JSON, binary, oversize, aborted mid-upload), sent over
 * raw sockets to every adapter. Per case (fuzz/runner.ts): only the handler's answer or a documented 4xx comes back,
 * never a 5xx or a hung socket; a malformed key never runs the handler; nothing is stored for a refused request or an
 * aborted upload; an executed request is stored, replayed byte for byte, and refused with 422 under another body.
 * Every 100 cases the store must hold exactly one completed record per executed guarded request.
 */
console.log(`[oncely fuzz] seed ${seed} (ONCELY_SEED=${seed} replays this run)`);

const plan: { backend: BackendName; runs: number }[] = [
  { backend: "memory", runs: sized(2_000, 10_000) },
  { backend: "sqlite", runs: sized(200, 1_000) },
  { backend: "redis", runs: sized(200, 1_000) },
];
/** Heap growth allowed from a fifth of a run to its end, each after a full collection. */
const HEAP_BOUND = 32 * 1024 * 1024;
const cases = fc.oneof({ weight: 199, arbitrary: fuzzCase }, { weight: 1, arbitrary: oversizeCase });

for (const { backend: backendName, runs } of plan) {
  describe(`fuzzed requests on the ${backendName} store`, () => {
    for (const adapter of adapters) {
      it(`${adapter.name}: ${runs} cases`, async (test) => {
        const backend = await openBackend(backendName);
        if (!backend) return test.skip();
        const app = await startFuzzApp(adapter, backend);
        const started = Date.now();
        // The heap is measured after a fifth of the cases (servers, JIT and pools warmed up) and again at the end.
        const warmUp = Math.floor(runs / 5);
        let baseline = 0;
        try {
          await fc.assert(
            fc.asyncProperty(cases, async (c) => {
              await runCase(app, c);
              if (app.cases % 100 === 0) await checkRecordCount(app);
              if (app.cases === warmUp) baseline = heapAfterGc();
            }),
            { seed, numRuns: runs, endOnFailure: true },
          );
          await checkRecordCount(app);
          const growth = heapAfterGc() - baseline;
          console.log(
            `[oncely fuzz] ${adapter.name} on ${backendName}: ${app.cases} cases, ${app.runs} handler runs, ` +
              `${app.expectedRecords} records, ${((Date.now() - started) / 1000).toFixed(1)} s, ` +
              `heap +${(growth / 1048576).toFixed(1)} MiB from case ${warmUp} to the end (after GC)`,
          );
          expect(app.cases).toBeGreaterThanOrEqual(runs);
          expect(baseline).toBeGreaterThan(0);
          expect(growth).toBeLessThan(HEAP_BOUND);
        } finally {
          await app.close();
          await backend.close();
        }
      });
    }
  });
}
