import { beforeAll } from "vitest";
import { bundleEntry } from "./bundle.js";
import { describeRuntime } from "./describe-runtime.js";
import { launchServer, runSuiteProcess, runtimeBin } from "./launch.js";

// Deno from the npm registry (`deno`, binary in @deno/<platform>), loading oncely from dist/ and Hono from
// node_modules. No lock file is written; network access is for the test's own sockets.
let entry: string;
beforeAll(async () => {
  entry = await bundleEntry("test/runtimes/entries/deno.ts", "deno", "imports");
});

const deno = (...args: string[]) => [
  "run",
  "--no-lock",
  "--allow-net=127.0.0.1",
  "--allow-read",
  "--allow-env",
  entry,
  ...args,
];

describeRuntime("Deno", {
  serve: (adapter) => launchServer(runtimeBin("deno"), deno("serve", adapter)),
  storeSuite: () => runSuiteProcess(runtimeBin("deno"), deno("store-suite")),
  upstashSuite: (url, token, prefix) => runSuiteProcess(runtimeBin("deno"), deno("upstash-suite", url, token, prefix)),
});
