import { defineConfig } from "vitest/config";

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
  },
});
