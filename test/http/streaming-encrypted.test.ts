import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { recordId } from "../../src/core/record-id.js";
import type { StreamStore } from "../../src/core/store.js";
import { createIdempotency } from "../../src/index.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";
import { until } from "../support/until.js";
import { describeStreaming } from "./streaming.js";
import { callStream, gate, type StreamRoute, streamingNode } from "./streaming-apps.js";

// Streams with `encryption`: every append is sealed as one entry (AES-256-GCM, the key scheme of encrypted records,
// bound to the record, the run and the entry's place in the log), and followers open it. The streaming cases run
// encrypted, and the store is shown to hold no chunk in clear, in flight or after completion.

const dir = mkdtempSync(join(tmpdir(), "oncely-streaming-encrypted-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const encryption = { current: "k1", keys: { k1: new Uint8Array(32).fill(7) } };

describeStreaming(
  "node:http on SqliteStore, encrypted",
  streamingNode,
  () => new SqliteStore({ path: join(dir, `${files++}.db`) }),
  { encryption },
);

describe("an encrypted stream in the store", () => {
  it("holds no chunk in clear, in flight or after completion, and a follower still reads it whole", async () => {
    const path = join(dir, "clear.db");
    const store = new SqliteStore({ path });
    const idem = createIdempotency({ store, encryption, logger: false });
    const secret = Array.from({ length: 8 }, (_, index) => `secret-token-${index} `);
    const held = gate();
    const route: StreamRoute = {
      contentType: "text/plain; charset=utf-8",
      chunks: secret,
      pace: (index) => (index >= 4 ? held.wait() : Promise.resolve()),
      runs: 0,
    };
    const server = await streamingNode(idem, route);
    const first = await callStream(server.url, "k");
    await until(() => first.text() === secret.slice(0, 4).join(""), "the first four chunks");
    const follower = await callStream(server.url, "k");
    expect(follower.headers["idempotent-replayed"]).toBe("true");

    // In flight: the run's log, as the store answers it, has every chunk so far sealed.
    const id = recordId(undefined, "k");
    const record = await store.get(id);
    const log = await (store as StreamStore).readStream(id, record!.token, 0, 0);
    expect(log.state).toBe("held");
    expect(log.entries.length).toBeGreaterThan(0);
    const logged = Buffer.concat(log.entries).toString("latin1");
    expect(logged).not.toContain("secret-token");
    expect(logged).not.toContain("text/plain");

    held.open();
    expect(await first.done).toBe(secret.join(""));
    expect(await follower.done).toBe(secret.join(""));
    expect(route.runs).toBe(1);
    const replay = await callStream(server.url, "k");
    expect(await replay.done).toBe(secret.join(""));

    // After completion: neither the database file nor its write-ahead log holds a chunk in clear.
    await server.close();
    await idem.close();
    const bytes = readdirSync(dir)
      .filter((name) => name.startsWith("clear.db"))
      .map((name) => readFileSync(join(dir, name)).toString("latin1"))
      .join("");
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes).not.toContain("secret-token");
  });
});
