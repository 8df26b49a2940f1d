import { defineConfig } from "vitest/config";

/**
 * The runs inside other runtimes (Bun, Deno, workerd): `npm run test:runtimes` builds dist/ and runs them. They load
 * oncely from dist/, which `npm test` rebuilds while it runs (the packaging test packs the package), so they have a
 * run of their own after it.
 */
export default defineConfig({
  test: {
    include: ["test/runtimes/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
