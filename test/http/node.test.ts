import { withIdempotency } from "../../src/http/node.js";
import type { RouteSpec } from "./app-spec.js";
import { describeHttpSemantics } from "./semantics.js";
import { readStream, serveNode, writeNode } from "./servers.js";

describeHttpSemantics("node:http", async (idem, routes) => {
  const handlers = new Map(
    routes.map((route: RouteSpec) => [
      `${route.method} ${route.path}`,
      withIdempotency(
        idem,
        async (req, res, context) => writeNode(res, await route.handle({ body: await readStream(req), context })),
        route.options,
      ),
    ]),
  );
  return serveNode((req, res) => {
    const handler = handlers.get(`${req.method} ${(req.url ?? "/").split("?")[0]}`);
    if (!handler) {
      res.statusCode = 404;
      return res.end();
    }
    handler(req, res).catch(() => {});
  });
});
