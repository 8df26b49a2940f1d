import { defineConfig } from "vitest/config";

/**
 * The fault tests (issue 8): crash storms, store outages, fuzzed input, model-based store tests. `npm run
 * test:reliability` runs their bounded sizes; `npm run soak -- --minutes N` sets ONCELY_SOAK_MINUTES and runs them
 * at soak size (see test/reliability/budget.ts).
 */
/** A soak run gives each file the whole soak and ten minutes more; a bounded one, ten minutes. */
const soakMinutes = Number(process.env.ONCELY_SOAK_MINUTES ?? 0) || 0;
const timeout = (soakMinutes + 10) * 60_000;

export default defineConfig({
  test: {
    include: ["test/reliability/**/*.test.ts"],
    testTimeout: timeout,
    hookTimeout: 120_000,
    pool: "forks",
    // Each file drives several processes or a store at full tilt; two at once would only measure each other.
    fileParallelism: false,
  },
});
