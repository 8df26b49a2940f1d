import { runMemoryStoreSuite } from "../memory-store-suite.js";
import { type RuntimeAdapter, semanticsHandler } from "../semantics-handler.js";
import { runUpstashStoreSuite } from "../upstash-store-suite.js";

// Runs inside Bun (bundled by test/runtimes/bundle.ts, oncely loaded from dist):
//   store-suite        runs the memory store conformance suite, prints the results as one JSON line
//   upstash-suite <url> <token> <prefix>
//                      runs the Upstash store's suite against the REST test fixture at url, prints the same
//   serve <adapter>    serves the semantics app on 127.0.0.1, prints "listening <url>"

declare const Bun: {
  argv: string[];
  serve(options: { hostname: string; port: number; fetch: (request: Request) => Promise<Response> }): { url: URL };
};
declare const process: { exit(code: number): never };

const [mode, adapter, ...rest] = Bun.argv.slice(2);
if (mode === "store-suite") {
  console.log(JSON.stringify(await runMemoryStoreSuite()));
  process.exit(0);
} else if (mode === "upstash-suite") {
  const [token, prefix] = rest as [string, string];
  console.log(JSON.stringify(await runUpstashStoreSuite(adapter!, token, prefix)));
  process.exit(0);
} else {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: semanticsHandler(adapter as RuntimeAdapter) });
  console.log(`listening ${server.url.origin}`);
}
