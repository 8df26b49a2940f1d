import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotency } from "../../src/adapters/hono/index.js";
import { MemoryStore } from "../../src/index.js";
import { createTelemetry, keyHash } from "../../src/otel/index.js";
import { listen } from "../http/servers.js";
import { createTestSdk, parentOf } from "./harness.js";

const sdk = createTestSdk();
beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(async () => {
  context.disable();
  await sdk.shutdown();
});

// The engine is the same for every adapter; this checks that the instrumented one still is, on a fetch-style adapter.
describe("oncely/otel on Hono", () => {
  it("executes then replays, one span each with its store operations as children", async () => {
    const idem = createTelemetry({
      tracerProvider: sdk.tracerProvider,
      meterProvider: sdk.meterProvider,
    }).createIdempotency({ store: new MemoryStore() });
    const app = new Hono();
    app.use("/charges", idempotency(idem, { route: "POST /charges" }));
    app.post("/charges", async (c) => c.json({ amount: (await c.req.json()).amount }, 201));
    const server = await listen(createAdaptorServer({ fetch: app.fetch }) as Server);
    try {
      const post = () =>
        fetch(`${server.url}/charges`, {
          method: "POST",
          headers: { "content-type": "application/json", "idempotency-key": "hono-1" },
          body: '{"amount":5}',
        });
      expect((await post()).status).toBe(201);
      const replay = await post();
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(await replay.json()).toEqual({ amount: 5 });
      const spans = sdk.spans.getFinishedSpans();
      const requests = spans.filter((span) => span.name === "oncely POST /charges");
      expect(requests.map((span) => span.attributes["oncely.decision"])).toEqual(["executed", "replayed"]);
      for (const span of requests) expect(span.attributes["oncely.key_hash"]).toBe(keyHash("hono-1"));
      const children = requests.map((request) =>
        spans.filter((span) => parentOf(span) === request.spanContext().spanId).map((span) => span.name),
      );
      expect(children).toEqual([["oncely.store claim", "oncely.store complete"], ["oncely.store claim"]]);
    } finally {
      await server.close();
    }
  });
});
