import { DurableObject } from "cloudflare:workers";
import {
  type DurableObjectNamespaceLike,
  DurableObjectStore,
  IdempotencyObject,
} from "../../../src/stores/durable-object/index.js";
import { testStore } from "../../../src/testing/index.js";
import { createHarness } from "../harness.js";

// A Worker (bundled by test/runtimes/bundle.ts with oncely's dist inside) that runs the store conformance suite
// against DurableObjectStore: GET / runs it and answers each case's result as JSON. The objects are the class below,
// bound as IDEMPOTENCY (SQLite-backed) by the test's Miniflare options.

export class Idempotency extends IdempotencyObject(DurableObject) {}

interface Env {
  IDEMPOTENCY: DurableObjectNamespaceLike;
}

/** The namespace, with every call on an object's stub counted: one call is one request to the object. */
function counted(namespace: DurableObjectNamespaceLike) {
  let calls = 0;
  const wrapped: DurableObjectNamespaceLike = {
    idFromName: (name) => namespace.idFromName(name),
    get: (id) => {
      const stub = namespace.get(id) as Record<string, (...args: unknown[]) => unknown>;
      return new Proxy(stub, {
        get: (target, name) => {
          const method = target[name as string]!;
          return (...args: unknown[]) => {
            calls++;
            // Reflect.apply: on an RPC stub, `method.apply` would be a call of a remote method named "apply".
            return Reflect.apply(method, target, args);
          };
        },
      });
    },
  };
  return { namespace: wrapped, calls: () => calls };
}

export default {
  async fetch(_request: Request, env: Env): Promise<Response> {
    const harness = createHarness();
    testStore({
      name: "durable-object",
      create: () => new DurableObjectStore({ namespace: env.IDEMPOTENCY, name: crypto.randomUUID(), shards: 4 }),
      test: harness.test,
      steps: true,
      replayCounts: true,
      roundTrips: async () => {
        const { namespace, calls } = counted(env.IDEMPOTENCY);
        const store = new DurableObjectStore({ namespace, name: crypto.randomUUID(), shards: 4 });
        return { store, roundTrips: calls };
      },
    });
    return Response.json(await harness.run());
  },
};
