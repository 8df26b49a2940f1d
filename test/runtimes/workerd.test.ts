import { Miniflare } from "miniflare";
import { beforeAll } from "vitest";
import { bundleEntry } from "./bundle.js";
import { describeRuntime } from "./describe-runtime.js";
import type { CaseResult } from "./harness.js";
import type { RuntimeAdapter } from "./semantics-handler.js";

// Cloudflare's workerd (the `workerd` package, through `miniflare` from the npm registry), running oncely's dist
// bundled into one Worker module. No `nodejs_compat` flag: the Worker has no Node.js built-in modules.
let script: string;
beforeAll(async () => {
  script = await bundleEntry("test/runtimes/entries/workerd.ts", "workerd", "inline");
});

async function startWorker(adapter: RuntimeAdapter) {
  const worker = new Miniflare({
    modules: true,
    scriptPath: script,
    compatibilityDate: "2026-07-01",
    bindings: { ADAPTER: adapter },
    host: "127.0.0.1",
    port: 0,
  });
  const url = await worker.ready;
  return { url: url.origin, close: () => worker.dispose() };
}

/** Asks a fresh Worker to run a suite at `path` and answer its results. */
async function suiteInWorker(path: string): Promise<CaseResult[]> {
  const worker = await startWorker("fetch");
  try {
    const response = await fetch(`${worker.url}${path}`);
    return (await response.json()) as CaseResult[];
  } finally {
    await worker.close();
  }
}

describeRuntime("workerd", {
  serve: startWorker,
  storeSuite: () => suiteInWorker("/__store-suite"),
  upstashSuite: (url, token, prefix) =>
    suiteInWorker(`/__upstash-suite?${new URLSearchParams({ url, token, prefix })}`),
});
