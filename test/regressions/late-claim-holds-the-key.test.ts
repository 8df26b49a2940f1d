import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { recordId } from "../../src/core/record-id.js";
import { createIdempotency } from "../../src/index.js";
import { RedisStore } from "../../src/stores/redis/index.js";
import { latency, pass, startFaultProxy } from "../reliability/support/fault-proxy.js";
import { serviceAvailable, services } from "../support/services.js";
import { until } from "../support/until.js";

// Found in the Redis Cluster resharding test: a claim the store granted after the engine had answered 503 (its reply
// later than `storeTimeout`) held the key for its whole lease with nobody running it, so every retry waited for the
// lease to lapse. The engine now releases such a claim as soon as it lands. Here the claim's reply is made late by
// latency on the way to a real Redis; the store itself waits longer than the engine does.
describe.skipIf(!(await serviceAvailable("redis")))("regression: a claim granted after storeTimeout", () => {
  const prefix = `oncely-test:late-claim:${randomUUID().slice(0, 8)}:`;
  const direct = new RedisStore({ url: services.redis.url, prefix });
  afterAll(() => direct.close());

  it("is released at once, so the retry runs the handler without waiting for the lease", async () => {
    const proxy = await startFaultProxy({ host: services.redis.host, port: services.redis.port });
    const store = new RedisStore({ url: `redis://${proxy.host}:${proxy.port}`, prefix, timeout: 5_000 });
    const idem = createIdempotency({ store, storeTimeout: 200, lease: 60_000 });
    try {
      const guard = idem.route();
      const request = {
        method: "POST",
        path: "/charges",
        query: "",
        headers: { "idempotency-key": "late" },
        body: new Uint8Array(),
        raw: undefined,
      };
      // Connected first, within the store's own timeout.
      await store.get("warm-up");
      // Each way 150 ms: the claim's reply comes about 300 ms after it was sent, after the engine gave up.
      proxy.set(latency(150));
      const first = await guard.begin(request);
      expect(first.action === "respond" && first.response.status).toBe(503);
      proxy.set(pass);
      await until(async () => (await direct.get(recordId(undefined, "late")))?.state === "released", "the release");
      const retry = await guard.begin(request);
      expect(retry.action).toBe("execute");
    } finally {
      await idem.close();
      await proxy.close();
    }
  });
});
