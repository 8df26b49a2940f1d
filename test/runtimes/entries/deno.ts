import { runMemoryStoreSuite } from "../memory-store-suite.js";
import { type RuntimeAdapter, semanticsHandler } from "../semantics-handler.js";

// Runs inside Deno (bundled by test/runtimes/bundle.ts, oncely loaded from dist):
//   store-suite        runs the memory store conformance suite, prints the results as one JSON line
//   serve <adapter>    serves the semantics app on 127.0.0.1, prints "listening <url>"

declare const Deno: {
  args: string[];
  exit(code: number): never;
  serve(
    options: { hostname: string; port: number; onListen: (address: { hostname: string; port: number }) => void },
    handler: (request: Request) => Promise<Response>,
  ): unknown;
};

const [mode, adapter] = Deno.args;
if (mode === "store-suite") {
  console.log(JSON.stringify(await runMemoryStoreSuite()));
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
