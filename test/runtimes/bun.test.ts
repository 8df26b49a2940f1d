import { beforeAll } from "vitest";
import { bundleEntry } from "./bundle.js";
import { describeRuntime } from "./describe-runtime.js";
import { launchServer, runSuiteProcess, runtimeBin } from "./launch.js";

// Bun from the npm registry (`bun`, binary in @oven/bun-<platform>), loading oncely from dist/.
let entry: string;
beforeAll(async () => {
  entry = await bundleEntry("test/runtimes/entries/bun.ts", "bun", "imports");
});

describeRuntime("Bun", {
  serve: (adapter) => launchServer(runtimeBin("bun"), [entry, "serve", adapter]),
  storeSuite: () => runSuiteProcess(runtimeBin("bun"), [entry, "store-suite"]),
  upstashSuite: (url, token, prefix) =>
    runSuiteProcess(runtimeBin("bun"), [entry, "upstash-suite", url, token, prefix]),
});
