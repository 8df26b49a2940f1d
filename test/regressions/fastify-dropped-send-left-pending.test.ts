import { createHook } from "node:async_hooks";
import fastify5, { type FastifyInstance } from "fastify";
import fastify4 from "fastify4";
import { afterEach, describe, expect, it } from "vitest";
import { idempotency } from "../../src/adapters/fastify/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";

// Found in a review of the Fastify adapter: an async handler that calls `reply.send()` without returning `reply` makes
// Fastify send its `undefined` a second time while oncely is still storing the first reply. oncely dropped that
// second send by returning a promise that never settled from its onSend hook: the response was right, but a promise
// stayed pending for every such request (and with it whatever tracks pending promises: async hooks, APM agents).
// The second send is now dropped without creating anything that waits.

type FastifyFactory = () => FastifyInstance;
const versions: [string, FastifyFactory][] = [
  ["fastify 5", fastify5 as unknown as FastifyFactory],
  ["fastify 4", fastify4 as unknown as FastifyFactory],
];

/** Promises created directly by the Fastify adapter (the top frame of their creation is in it), until settled. */
function trackAdapterPromises() {
  const pending = new Map<number, string>();
  const hook = createHook({
    init(asyncId, type) {
      if (type !== "PROMISE") return;
      // The first frame that is neither this hook nor Node.js's own: the code that created the promise.
      const top = new Error().stack
        ?.split("\n")
        .find((line) => line.includes(" at ") && !line.includes("node:") && !line.includes(import.meta.filename));
      if (top?.includes("src/adapters/fastify")) pending.set(asyncId, top.trim());
    },
    promiseResolve(asyncId) {
      pending.delete(asyncId);
    },
  });
  hook.enable();
  return { pending, stop: () => hook.disable() };
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  app?.server.closeAllConnections();
  await app?.close();
  app = undefined;
});

for (const [version, factory] of versions) {
  describe(`regression (${version}): the second send of a handler that does not return reply`, () => {
    it("is dropped without leaving a promise pending", async () => {
      app = factory();
      await app.register(idempotency(createIdempotency({ store: new MemoryStore() })));
      let runs = 0;
      app.post("/send-no-return", async (_request, reply) => {
        reply.code(201).send({ run: ++runs });
      });
      const url = await app.listen({ port: 0, host: "127.0.0.1" });

      const tracked = trackAdapterPromises();
      let bodies: string[];
      try {
        const send = () =>
          fetch(`${url}/send-no-return`, {
            method: "POST",
            headers: { "idempotency-key": `k-${version.replace(" ", "")}` },
          });
        const first = await send();
        const retry = await send();
        bodies = [await first.text(), await retry.text()];
        expect(retry.headers.get("idempotent-replayed")).toBe("true");
      } finally {
        tracked.stop();
      }
      expect(bodies).toEqual(['{"run":1}', '{"run":1}']);
      expect(runs).toBe(1);
      expect([...tracked.pending.values()]).toEqual([]);
    });
  });
}
