// The other idempotency libraries on npm, set up on Express as their READMEs show, each on its own in-memory store, so
// the benchmark compares them with oncely in one run. Each entry gives the middleware to mount before the handler and
// whether the handler must stay out of a request the library already answered.
import { Idempotency } from "@node-idempotency/core";
import { MemoryStorageAdapter } from "@node-idempotency/storage-adapter-memory";
import { getSharedIdempotencyService, idempotency } from "express-idempotency";

export const otherLibraries = {
  // express-idempotency answers a replay itself and still calls next(): the handler asks isHit() first.
  "express-idempotency": () => ({
    middleware: idempotency(),
    answered: (req) => getSharedIdempotencyService().isHit(req),
  }),
  // @node-idempotency/core is framework-free: onRequest before the handler, onResponse with what it sends. Its
  // Express package is not on this registry, so this is the glue its README describes, around res.json.
  "@node-idempotency/core": () => {
    const library = new Idempotency(new MemoryStorageAdapter(), { cacheTTLMS: 5 * 60_000 });
    const middleware = async (req, res, next) => {
      const request = { headers: req.headers, path: req.path, method: req.method, body: req.body };
      try {
        const stored = await library.onRequest(request);
        if (stored) return res.status(stored.additional.status).json(stored.body);
      } catch (error) {
        return res.status(error.code === "REQUEST_IN_PROGRESS" ? 409 : 422).json({ error: error.message });
      }
      const send = res.json.bind(res);
      res.json = (body) => {
        library.onResponse(request, { body, additional: { status: res.statusCode } }).then(() => send(body), next);
        return res;
      };
      next();
    };
    return { middleware, answered: () => false };
  },
};
