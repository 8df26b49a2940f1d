import { runMemoryStoreSuite } from "../memory-store-suite.js";
import { type RuntimeAdapter, semanticsHandler } from "../semantics-handler.js";

// A Worker (bundled by test/runtimes/bundle.ts with oncely's dist inside, as wrangler bundles one), run on workerd by
// Miniflare: GET /__store-suite runs the memory store conformance suite and answers its results as JSON; every other
// request goes to the semantics app behind the adapter named by the ADAPTER binding.

interface Env {
  ADAPTER: RuntimeAdapter;
}

let serve: ((request: Request) => Promise<Response>) | undefined;

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    if (new URL(request.url).pathname === "/__store-suite") return Response.json(await runMemoryStoreSuite());
    serve ??= semanticsHandler(env.ADAPTER);
    return serve(request);
  },
};
