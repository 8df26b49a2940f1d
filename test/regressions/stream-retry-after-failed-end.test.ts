import { afterAll, expect, it } from "vitest";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { callStream, gate, type StreamRoute, streamingNode } from "../http/streaming-apps.js";
import { until } from "../support/until.js";

// Found on MySQL under load: a retry that arrived after a failed run had appended its `failed` end, but before its
// holder released the key, joined the failed run and was answered a replay of it, where the docs promise that the
// next retry runs the handler again. The release is held here, so the retry lands in that window every time.

const servers: RunningServer[] = [];
afterAll(() => Promise.all(servers.map((server) => server.close())));

/** A memory store whose releases wait for `releases.open()`, and which counts the reads of stream logs. */
class HeldReleases extends MemoryStore {
  readonly releases = gate();
  released = false;
  reads = 0;
  override readStream(id: string, token: number, from: number, wait: number) {
    this.reads++;
    return super.readStream(id, token, from, wait);
  }
  override async release(id: string, token: number): Promise<boolean> {
    await this.releases.wait();
    this.released = true;
    return super.release(id, token);
  }
}

it("a retry after a stream's handler failed runs the handler again, even before the key is released", async () => {
  const store = new HeldReleases();
  const idem = createIdempotency({ store, logger: false });
  const chunks = Array.from({ length: 6 }, (_, index) => `token-${index} `);
  const route: StreamRoute = {
    contentType: "text/plain; charset=utf-8",
    chunks,
    pace: () => Promise.resolve(),
    failAt: 3,
    runs: 0,
  };
  const server = await streamingNode(idem, route);
  servers.push(server);
  const first = await callStream(server.url, "k");
  await expect(first.done).rejects.toThrow();
  // The failed end is in the log; the release waits.
  await until(async () => {
    const record = await store.get((await store.list()).records[0]!.id);
    const log = await store.readStream(record!.id, record!.token, 0, 0);
    return log.entries.some((entry) => entry[0] === 0x45);
  }, "the failed end in the log");
  route.failAt = undefined;
  const reads = store.reads;
  const retry = callStream(server.url, "k");
  // The retry has joined and read the failed run's log; the key is still held.
  await until(() => store.reads > reads, "the retry to read the log");
  expect(store.released).toBe(false);
  store.releases.open();
  const answered = await retry;
  expect(answered.headers["idempotent-replayed"]).toBeUndefined();
  expect(await answered.done).toBe(chunks.join(""));
  expect(route.runs).toBe(2);
});
