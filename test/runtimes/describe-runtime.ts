import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { RunningServer } from "../http/app-spec.js";
import { describeRemoteHttpSemantics } from "../http/semantics.js";
import { deleteRedisPrefix } from "../support/scratch.js";
import { serviceAvailable } from "../support/services.js";
import { startUpstashRest } from "../support/upstash-rest.js";
import type { CaseResult } from "./harness.js";
import { remoteProbe } from "./remote-probe.js";
import type { RuntimeAdapter } from "./semantics-handler.js";

/** How a runtime test starts things inside its runtime. */
export interface RuntimeUnderTest {
  /** Serves the semantics app behind `adapter` inside the runtime. */
  serve: (adapter: RuntimeAdapter) => Promise<RunningServer>;
  /** Runs the memory store conformance suite inside the runtime and returns each case's result. */
  storeSuite: () => Promise<CaseResult[]>;
  /**
   * Runs the Upstash store's conformance suite inside the runtime, against the REST test fixture at `url` (started
   * here, before the test Redis), keeping its records under `prefix`.
   */
  upstashSuite?: (url: string, token: string, prefix: string) => Promise<CaseResult[]>;
}

/** The memory store suite registers this many cases and more; fewer means the run inside the runtime lost some. */
const STORE_SUITE_CASES = 25;

/**
 * The HTTP semantics suite for `oncely/fetch` and `oncely/hono` served inside `runtime`, driven from here over real
 * sockets, and the store conformance suite run inside it.
 */
export function describeRuntime(runtime: string, under: RuntimeUnderTest): void {
  for (const adapter of ["fetch", "hono"] as const) {
    describeRemoteHttpSemantics(`${adapter} in ${runtime}`, async () => {
      const server = await under.serve(adapter);
      return { ...server, probe: remoteProbe(server.url) };
    });
  }

  describe(`store conformance in ${runtime}`, () => {
    it("passes every case of the memory store suite, run inside the runtime", async () => {
      const results = await under.storeSuite();
      expect(results.filter((result) => !result.passed)).toEqual([]);
      expect(results.length).toBeGreaterThan(STORE_SUITE_CASES);
    }, 120_000);
  });

  const { upstashSuite } = under;
  if (upstashSuite) {
    describe(`the Upstash store in ${runtime}`, async () => {
      const available = await serviceAvailable("redis");
      it.skipIf(!available)(
        "passes every case of its conformance suite, run inside the runtime against the REST test fixture",
        async () => {
          const rest = await startUpstashRest();
          const prefix = `oncely-test:runtime-upstash:${randomUUID().slice(0, 8)}:`;
          try {
            const results = await upstashSuite(rest.url, rest.token, prefix);
            expect(results.filter((result) => !result.passed)).toEqual([]);
            expect(results.length).toBeGreaterThan(STORE_SUITE_CASES);
          } finally {
            await rest.close();
            await deleteRedisPrefix(prefix);
          }
        },
        300_000,
      );
    });
  }
}
