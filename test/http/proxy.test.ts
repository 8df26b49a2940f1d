import { createServer } from "node:http";
import { createProxy } from "../../src/cli/proxy/proxy.js";
import type { RouteSpec } from "./app-spec.js";
import { describeHttpSemantics } from "./semantics.js";
import { listen, readStream, writeNode } from "./servers.js";

// The shared HTTP semantics through `oncely proxy`: the suite's handlers run in a plain node:http upstream with no
// oncely in it (so `runs` counts real upstream executions), and the proxy in front guards the routes an adapter
// would guard. Two cases need what a proxy cannot offer and are left out by capability (see HttpCapabilities):
// skipStore() from inside the handler, and transactional routes.

describeHttpSemantics(
  "oncely proxy",
  async (idem, routes) => {
    const byRoute = new Map(routes.map((route: RouteSpec) => [`${route.method} ${route.path}`, route]));
    const upstream = await listen(
      createServer((req, res) => {
        const route = byRoute.get(`${req.method} ${(req.url ?? "/").split("?")[0]}`);
        if (!route) {
          res.statusCode = 404;
          return res.end();
        }
        readStream(req)
          .then((body) => route.handle({ body, context: undefined }))
          .then(
            (out) => writeNode(res, out),
            () => {
              res.statusCode = 500;
              res.end();
            },
          );
      }),
    );
    // The methods an adapter guards by default (POST, PATCH); a GET route stays unguarded, as in every adapter.
    const guarded = routes.filter((route) => (route.options?.methods ?? ["POST", "PATCH"]).includes(route.method));
    const proxy = createProxy({
      idem,
      upstream: upstream.url,
      routes: guarded.map((route) => ({ route: `${route.method} ${route.path}`, options: route.options })),
    });
    const front = await listen(createServer(proxy.handle));
    return {
      url: front.url,
      async close() {
        await front.close();
        await proxy.close();
        await upstream.close();
      },
    };
  },
  { handlerContext: false, transactional: false },
);
