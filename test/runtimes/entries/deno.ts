import { runMemoryStoreSuite } from "../memory-store-suite.js";
import { type RuntimeAdapter, semanticsHandler } from "../semantics-handler.js";
import { runUpstashStoreSuite } from "../upstash-store-suite.js";

// Runs inside Deno (bundled by test/runtimes/bundle.ts, oncely loaded from dist):
//   store-suite        runs the memory store conformance suite, prints the results as one JSON line
//   upstash-suite <url> <token> <prefix>
//                      runs the Upstash store's suite against the REST test fixture at url, prints the same
//   serve <adapter>    serves the semantics app on 127.0.0.1, prints "listening <url>"

declare const Deno: {
  args: string[];
  exit(code: number): never;
  serve(
    options: { hostname: string; port: number; onListen: (address: { hostname: string; port: number }) => void },
    handler: (request: Request) => Promise<Response>,
  ): unknown;
};

const [mode, adapter, ...rest] = Deno.args;
if (mode === "store-suite") {
  console.log(JSON.stringify(await runMemoryStoreSuite()));
  Deno.exit(0);
} else if (mode === "upstash-suite") {
  const [token, prefix] = rest as [string, string];
  console.log(JSON.stringify(await runUpstashStoreSuite(adapter!, token, prefix)));
  Deno.exit(0);
} else {
  Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ hostname, port }) => console.log(`listening http://${hostname}:${port}`),
    },
    semanticsHandler(adapter as RuntimeAdapter),
  );
}
