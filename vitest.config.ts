import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The multi-process test (test/multiprocess/) takes about a third of the run on 2 cores. Vitest starts the files it
 * has timed before longest first, but a fresh checkout (`npm ci` in .ci/run) has no timings, and that file is short,
 * so it would start late and run alone at the end. Started first, the other worker runs the rest beside it.
 */
const START_FIRST = ["test/multiprocess/"];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const first = (file: TestSpecification) => START_FIRST.some((path) => file.moduleId.includes(`/${path}`));
    return [...sorted.filter(first), ...sorted.filter((file) => !first(file))];
  }
}

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The fault tests have their own run: `npm run test:reliability` (vitest.reliability.config.ts).
    // The runs inside Bun, Deno and workerd too: `npm run test:runtimes` (vitest.runtimes.config.ts).
    exclude: ["test/reliability/**", "test/runtimes/**", "**/node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Store suites share real servers; files run in parallel, each with its own prefix/table.
    pool: "forks",
    // Vitest's default is one worker fewer than the cores: one on a 2-core machine, where the files would then run
    // one after another. Most of a file's time is spent waiting (on sockets, servers, child processes), so two
    // files at once keep both cores busy: 52 HTTP, client, example and regression files took 229 s instead of 529 s
    // with the same CPU time (98 s).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    sequence: { sequencer: LongestFirst },
  },
});
