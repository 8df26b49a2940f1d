import { afterEach, describe, expect, it } from "vitest";
import { createIdempotency, type IdempotencyOptions, MemoryStore, type Store } from "../../src/index.js";
import { until } from "../support/until.js";
import type { RunningServer } from "./app-spec.js";
import { callStream, gate, type StartStreaming, type StreamRoute } from "./streaming-apps.js";

// The streaming cases every adapter that streams runs, over real sockets (on the memory store, and one adapter on each
// other store that records streams): a dropped stream's retry joins it, many followers get the same bytes, a handler
// that fails mid-stream, SSE resume, maxResponseBytes.
// A holder killed in another process is test/http/streaming-holder-killed.test.ts (a store processes share).

const TOKENS = Array.from({ length: 20 }, (_, index) => `token-${index} `);
const SSE = TOKENS.map((token, index) => `id: ${index}\ndata: ${token}\n\n`);
const WHOLE = TOKENS.join("");

export function describeStreaming(
  name: string,
  start: StartStreaming,
  createStore: () => Store | Promise<Store> = () => new MemoryStore(),
  /** Engine options besides the store (a slower backend's `storeTimeout`). */
  engine: Omit<IdempotencyOptions, "store"> = {},
): void {
  describe(`streaming routes: ${name}`, () => {
    const servers: RunningServer[] = [];
    const stores: Store[] = [];
    afterEach(async () => {
      await Promise.all(servers.splice(0).map((server) => server.close()));
      await Promise.all(stores.splice(0).map((store) => store.close()));
    });

    /** Serves the route on a fresh engine; chunks from `held` on wait for the returned gate. */
    async function serve(route: Partial<StreamRoute> & { held?: number }) {
      const opened = gate();
      const store = await createStore();
      stores.push(store);
      const spec: StreamRoute = {
        contentType: "text/plain; charset=utf-8",
        chunks: TOKENS,
        pace: (index) => (route.held !== undefined && index >= route.held ? opened.wait() : Promise.resolve()),
        runs: 0,
        ...route,
      };
      const idem = createIdempotency({ logger: false, ...engine, store });
      const server = await start(idem, spec);
      servers.push(server);
      return { url: server.url, route: spec, open: opened.open, store };
    }

    it("a retry after the client dropped mid-stream joins it: the same bytes as an uninterrupted call, one run", async () => {
      const { url, route, open } = await serve({ held: 5 });
      const first = await callStream(url, "dropped");
      await until(() => first.text() === TOKENS.slice(0, 5).join(""), "the first five chunks");
      first.drop();
      const retry = await callStream(url, "dropped");
      expect(retry.status).toBe(200);
      expect(retry.headers["idempotent-replayed"]).toBe("true");
      open();
      expect(await retry.done).toBe(WHOLE);
      const uninterrupted = await callStream(url, "another-key");
      expect(await uninterrupted.done).toBe(await retry.done);
      expect(route.runs).toBe(2);
      // After completion: the whole stream again, chunk boundaries kept, marked as a replay.
      const replay = await callStream(url, "dropped");
      expect(replay.headers["idempotent-replayed"]).toBe("true");
      expect(replay.headers["content-type"]).toBe("text/plain; charset=utf-8");
      expect(await replay.done).toBe(WHOLE);
      expect(route.runs).toBe(2);
    });

    it("a client that stops reading and then drops stalls nothing: a retry gets the whole stream, one run", async () => {
      // Larger than the sockets' and streams' buffers together, so the server's writes to this client back up.
      const chunks = Array.from({ length: 16 }, (_, index) => `${index}:${"x".repeat(256 * 1024)}\n`);
      const { url, route } = await serve({ chunks, options: { maxResponseBytes: 16 * 1024 * 1024 } });
      const stalled = await callStream(url, "stalled", {}, { read: false });
      await until(() => route.runs === 1, "the handler to run");
      stalled.drop();
      const retry = await callStream(url, "stalled");
      expect(retry.headers["idempotent-replayed"]).toBe("true");
      expect(await retry.done).toBe(chunks.join(""));
      expect(route.runs).toBe(1);
    });

    it("20 followers joined to one stream all get the identical bytes", async () => {
      const { url, route, open } = await serve({ held: 3 });
      const first = await callStream(url, "crowd");
      await until(() => first.text().length > 0, "the first chunk");
      const followers = await Promise.all(Array.from({ length: 20 }, () => callStream(url, "crowd")));
      open();
      const bodies = await Promise.all([first.done, ...followers.map((follower) => follower.done)]);
      for (const body of bodies) expect(body).toBe(WHOLE);
      expect(followers.every((follower) => follower.headers["idempotent-replayed"] === "true")).toBe(true);
      expect(route.runs).toBe(1);
    });

    it("a handler that fails mid-stream ends its followers' streams with an error; the next retry runs once", async () => {
      const { url, route, open } = await serve({ held: 4, failAt: 6 });
      const first = await callStream(url, "failing");
      await until(() => first.text().length > 0, "the first chunk");
      const follower = await callStream(url, "failing");
      open();
      await expect(follower.done).rejects.toThrow();
      expect(follower.text()).toBe(TOKENS.slice(0, 6).join(""));
      route.failAt = undefined;
      const retry = await callStream(url, "failing");
      expect(retry.headers["idempotent-replayed"]).toBeUndefined();
      expect(await retry.done).toBe(WHOLE);
      expect(route.runs).toBe(2);
    });

    it("server-sent events: a failed run ends a follower with an oncely-error event", async () => {
      const { url, open } = await serve({ held: 4, failAt: 6, contentType: "text/event-stream", chunks: SSE });
      const first = await callStream(url, "sse-failing");
      await until(() => first.text().length > 0, "the first event");
      const follower = await callStream(url, "sse-failing");
      open();
      const body = await follower.done;
      expect(body.startsWith(SSE.slice(0, 6).join(""))).toBe(true);
      const error = body.slice(SSE.slice(0, 6).join("").length);
      expect(error).toMatch(/^\n\nevent: oncely-error\ndata: \{.*"reason":"handler_failed".*\}\n\n$/);
    });

    it("server-sent events: Last-Event-ID resumes after that event, in flight and after completion", async () => {
      const { url, route, open } = await serve({ held: 5, contentType: "text/event-stream", chunks: SSE });
      const first = await callStream(url, "sse");
      await until(() => first.text() === SSE.slice(0, 5).join(""), "the first five events");
      first.drop();
      const resumed = await callStream(url, "sse", { "last-event-id": "3" });
      expect(resumed.headers["content-type"]).toBe("text/event-stream");
      open();
      expect(await resumed.done).toBe(SSE.slice(4).join(""));
      const later = await callStream(url, "sse", { "last-event-id": "17" });
      expect(await later.done).toBe(SSE.slice(18).join(""));
      const whole = await callStream(url, "sse");
      expect(await whole.done).toBe(SSE.join(""));
      expect(route.runs).toBe(1);
    });

    it("past maxResponseBytes the first caller gets everything, and later retries get response_not_kept", async () => {
      const limit = TOKENS.slice(0, 5).join("").length;
      const { url, route } = await serve({ options: { maxResponseBytes: limit } });
      const first = await callStream(url, "large");
      expect(await first.done).toBe(WHOLE);
      const retry = await callStream(url, "large");
      expect(retry.status).toBe(410);
      expect(JSON.parse(await retry.done).code).toBe("response_not_kept");
      expect(route.runs).toBe(1);
    });
  });
}
