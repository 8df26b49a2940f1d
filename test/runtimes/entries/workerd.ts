import { runMemoryStoreSuite } from "../memory-store-suite.js";
import { type RuntimeAdapter, semanticsHandler } from "../semantics-handler.js";
import { runUpstashStoreSuite } from "../upstash-store-suite.js";

// A Worker (bundled by test/runtimes/bundle.ts with oncely's dist inside, as wrangler bundles one), run on workerd by
// Miniflare: GET /__store-suite runs the memory store conformance suite and answers its results as JSON; GET
// /__upstash-suite?url=&token=&prefix= runs the Upstash store's suite against the REST test fixture at url; every
// other request goes to the semantics app behind the adapter named by the ADAPTER binding.

interface Env {
  ADAPTER: RuntimeAdapter;
}

let serve: ((request: Request) => Promise<Response>) | undefined;

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const { pathname, searchParams } = new URL(request.url);
    if (pathname === "/__store-suite") return Response.json(await runMemoryStoreSuite());
    if (pathname === "/__upstash-suite") {
      const [url, token, prefix] = ["url", "token", "prefix"].map((name) => searchParams.get(name) ?? "");
      return Response.json(await runUpstashStoreSuite(url!, token!, prefix!));
    }
    serve ??= semanticsHandler(env.ADAPTER);
    return serve(request);
  },
};
