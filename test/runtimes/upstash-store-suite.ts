import { UpstashStore } from "../../src/stores/upstash/index.js";
import { testStore } from "../../src/testing/index.js";
import { type CaseResult, createHarness } from "./harness.js";

/**
 * The store conformance suite on UpstashStore, run by the small harness wherever this module is loaded: against the
 * REST test fixture (test/support/upstash-rest.ts) the Node.js side started before a real Redis, at `url`. Every
 * record goes under `prefix`, which that side removes afterwards.
 */
export function runUpstashStoreSuite(url: string, token: string, prefix: string): Promise<CaseResult[]> {
  const harness = createHarness();
  testStore({
    name: "upstash (REST fixture before Redis)",
    create: () => new UpstashStore({ url, token, prefix: `${prefix}${crypto.randomUUID().slice(0, 8)}:` }),
    test: harness.test,
    steps: true,
    replayCounts: true,
    aggregate: true,
  });
  return harness.run();
}
