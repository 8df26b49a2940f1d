import { MemoryStore } from "../../src/index.js";
import { testStore } from "../../src/testing/index.js";
import { type CaseResult, createHarness } from "./harness.js";

/** The store conformance suite on MemoryStore, run by the small harness wherever this module is loaded. */
export function runMemoryStoreSuite(): Promise<CaseResult[]> {
  const harness = createHarness();
  const clock = { now: 1_700_000_000_000 };
  testStore({
    name: "memory",
    create: () => new MemoryStore({ now: () => clock.now }),
    advance: (ms) => {
      clock.now += ms;
    },
    test: harness.test,
    steps: true,
    replayCounts: true,
  });
  return harness.run();
}
