import { Miniflare } from "miniflare";
import { expect, it } from "vitest";
import { bundleEntry } from "./bundle.js";
import type { CaseResult } from "./harness.js";

// oncely/stores/durable-object on workerd (Miniflare from the registry): the conformance suite runs inside a Worker
// against DurableObjectStore, whose records live in SQLite-backed Durable Objects of the class the Worker exports.
it("passes every case of the store conformance suite, run in a Worker against SQLite-backed Durable Objects", async () => {
  const script = await bundleEntry("test/runtimes/entries/durable-object.ts", "durable-object", "inline");
  const worker = new Miniflare({
    modules: true,
    scriptPath: script,
    compatibilityDate: "2026-07-01",
    durableObjects: { IDEMPOTENCY: { className: "Idempotency", useSQLite: true } },
  });
  try {
    const response = await worker.dispatchFetch("http://worker/");
    const results = (await response.json()) as CaseResult[];
    expect(results.filter((result) => !result.passed)).toEqual([]);
    // The suite's cases with steps, replay counts and round trips: fewer means the run lost some.
    expect(results.length).toBeGreaterThanOrEqual(29);
  } finally {
    await worker.dispose();
  }
}, 180_000);
