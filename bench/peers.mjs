// The other idempotency libraries for Express, Fastify and Hono ("peers"), each set up as its README shows, on its own
// memory store and, where it has one, its own Redis store (127.0.0.1:6379, under a key prefix of its own where it
// offers one), so the benchmark compares them with oncely in one run.
//
// Some are on the npm registry (devDependencies). Others are published only as source: the benchmark measures them
// when they were built from their public repositories into the folder `BENCH_PEERS_DIR` names (never into this
// repository), as <dir>/hono-idempotency and <dir>/node-idempotency (the monorepo, packages built). Each entry tells
// why it cannot be measured when it cannot, and the results say so.
//
// `setup(store)` is called in the server process only, so the libraries load there alone. It returns what the app of
// the entry's framework mounts:
// - express: `handlers` (middleware to mount before the handler) and `answered(req)` (the handler must stay out of a
//   request the library already answered);
// - fastify: `register(app)`;
// - hono: `middleware`.
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const redisUrl = "redis://127.0.0.1:6379";
/** Long enough for a measurement, short enough that what a run leaves in Redis expires on its own. */
const ttlSeconds = 300;
const prefix = (name) => `bench-${name}-${randomUUID().slice(0, 8)}`;
const peersDir = process.env.BENCH_PEERS_DIR;
const nodeIdempotencyDir = peersDir && join(peersDir, "node-idempotency", "packages");
const honoIdempotencyDir = peersDir && join(peersDir, "hono-idempotency");

const fromRegistry = (name) => ({
  origin: "npm",
  version: () => manifest(new URL(`../node_modules/${name}/package.json`, import.meta.url)).version,
  unavailable: () => undefined,
});

/** A peer built from source under BENCH_PEERS_DIR: `dir` holds its package.json, `entry` its built module. */
const fromSource = (dir, entry) => ({
  origin: "built from source",
  version: () => manifest(join(dir, "package.json")).version,
  unavailable: () => {
    if (!peersDir) return "not on npm; BENCH_PEERS_DIR is not set (see bench/peers.mjs)";
    if (!existsSync(join(dir, entry))) return `not on npm; not built at ${join(dir, entry)}`;
    return undefined;
  },
});

function manifest(path) {
  return JSON.parse(readFileSync(path, "utf8"));
}

/** Imports a peer's built module by path, and a dependency as that peer resolves it. */
const load = (dir, entry) => import(pathToFileURL(join(dir, entry)).href);
const requireFrom = (dir) => createRequire(join(dir, "package.json"));

/** node-redis, connected: the client hono-idempotency's README names (ioredis refuses its `set` options). */
async function nodeRedis() {
  const { createClient } = await import("redis");
  const client = createClient({ url: redisUrl });
  await client.connect();
  return client;
}

export const peers = {
  // Answers a replay itself and still calls next(): the handler asks isHit() first. Finds a record, then creates one:
  // its Redis adapter has no key prefix, so the keys are the load generator's random ones, with a short ttl.
  "express-idempotency": {
    framework: "express",
    stores: ["memory", "redis"],
    ...fromRegistry("express-idempotency"),
    setup: async (store) => {
      const { getSharedIdempotencyService, idempotency } = await import("express-idempotency");
      let dataAdapter;
      if (store === "redis") {
        // CommonJS with an `exports.default`, required as its README shows.
        const RedisAdapter = createRequire(import.meta.url)("express-idempotency-redis-adapter").default;
        dataAdapter = new RedisAdapter({ connectionConfig: { url: redisUrl }, ttl: ttlSeconds });
        await dataAdapter.connect();
      }
      return {
        handlers: [idempotency(dataAdapter ? { dataAdapter } : undefined)],
        answered: (req) => getSharedIdempotencyService().isHit(req),
      };
    },
  },
  // Framework-free: onRequest before the handler, onResponse with what it sends. This is the glue its README
  // describes around res.json, on the registry's packages (its Express plugin is measured below when built).
  "@node-idempotency/core": {
    framework: "express",
    stores: ["memory", "redis"],
    ...fromRegistry("@node-idempotency/core"),
    setup: async (store) => {
      const { Idempotency } = await import("@node-idempotency/core");
      let adapter;
      if (store === "redis") {
        const { RedisStorageAdapter } = await import("@node-idempotency/storage-adapter-redis");
        adapter = new RedisStorageAdapter({ url: redisUrl });
        await adapter.connect();
      } else {
        const { MemoryStorageAdapter } = await import("@node-idempotency/storage-adapter-memory");
        adapter = new MemoryStorageAdapter();
      }
      const options = { cacheTTLMS: ttlSeconds * 1000, cacheKeyPrefix: prefix("node-idempotency-core") };
      const library = new Idempotency(adapter, options);
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
      return { handlers: [middleware], answered: () => false };
    },
  },
  "@node-idempotency/express": {
    framework: "express",
    stores: ["memory", "redis"],
    ...fromSource(join(nodeIdempotencyDir ?? "", "plugin-express"), "dist/index.js"),
    setup: async (store) => {
      const { idempotencyAsMiddleware } = await load(join(nodeIdempotencyDir, "plugin-express"), "dist/index.js");
      const handlers = await idempotencyAsMiddleware({
        storage: store === "redis" ? { adapter: "redis", options: { url: redisUrl } } : { adapter: "memory" },
        cacheTTLMS: ttlSeconds * 1000,
        cacheKeyPrefix: prefix("node-idempotency-express"),
      });
      return { handlers, answered: () => false };
    },
  },
  "@node-idempotency/fastify": {
    framework: "fastify",
    stores: ["memory", "redis"],
    ...fromSource(join(nodeIdempotencyDir ?? "", "plugin-fastify"), "dist/index.js"),
    setup: async (store) => {
      const dir = join(nodeIdempotencyDir, "plugin-fastify");
      const { idempotencyAsPlugin } = await load(dir, "dist/index.js");
      const fastifyPlugin = requireFrom(dir)("fastify-plugin");
      const options = {
        storage: store === "redis" ? { adapter: "redis", options: { url: redisUrl } } : { adapter: "memory" },
        cacheTTLMS: ttlSeconds * 1000,
        cacheKeyPrefix: prefix("node-idempotency-fastify"),
      };
      return { register: (app) => app.register(fastifyPlugin(idempotencyAsPlugin), options) };
    },
  },
  "hono-idempotency": {
    framework: "hono",
    stores: ["memory", "redis"],
    ...fromSource(honoIdempotencyDir ?? "", "dist/index.js"),
    setup: async (store) => {
      const { idempotency } = await load(honoIdempotencyDir, "dist/index.js");
      let chosenStore;
      if (store === "redis") {
        const { redisStore } = await load(honoIdempotencyDir, "dist/stores/redis.js");
        chosenStore = redisStore({ client: await nodeRedis(), ttl: ttlSeconds });
      } else {
        const { memoryStore } = await load(honoIdempotencyDir, "dist/stores/memory.js");
        chosenStore = memoryStore({ ttl: ttlSeconds * 1000 });
      }
      return { middleware: idempotency({ store: chosenStore, cacheKeyPrefix: prefix("hono-idempotency") }) };
    },
  },
};

/**
 * Idempotency libraries on npm that the benchmark leaves out, and why: the results list them with the peers that
 * could not be measured.
 */
export const notComparable = {
  "@aws-lambda-powertools/idempotency": "wraps AWS Lambda handlers, not an Express, Fastify or Hono app",
};
