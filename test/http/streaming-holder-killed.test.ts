import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createIdempotency } from "../../src/index.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";
import { until } from "../support/until.js";
import type { RunningServer } from "./app-spec.js";
import { callStream, STREAMING_ADAPTERS, type StreamRoute } from "./streaming-apps.js";
import { HELD, SSE_EVENTS } from "./streaming-holder-events.js";

// A holder killed mid-stream, for real: another process holds the record (on a SQLite file both share) and is sent
// SIGKILL after its first events. A follower joined through this process, on each adapter that streams, sees its
// stream end with the documented `oncely-error` event once the dead holder's lease lapses; the next retry runs the
// handler once, from the start.

const LEASE = 400;

describe.each(STREAMING_ADAPTERS)("a holder killed mid-stream, followed through %s", (_name, start) => {
  const opened: { dir?: string; child?: ChildProcess; server?: RunningServer; store?: SqliteStore } = {};
  afterEach(async () => {
    opened.child?.kill("SIGKILL");
    await opened.server?.close();
    await opened.store?.close();
    if (opened.dir) rmSync(opened.dir, { recursive: true, force: true });
  });

  it("ends its followers' server-sent events with oncely-error; the next retry runs once", async () => {
    opened.dir = mkdtempSync(join(tmpdir(), "oncely-stream-holder-"));
    const path = join(opened.dir, "records.db");
    const child = fork(fileURLToPath(new URL("./streaming-holder.ts", import.meta.url)), [path, String(LEASE)], {
      execArgv: ["--import", "tsx"],
      stdio: "ignore",
    });
    opened.child = child;
    const [holderUrl] = (await once(child, "message")) as [string];

    const store = new SqliteStore({ path });
    opened.store = store;
    const idem = createIdempotency({ store, lease: LEASE, logger: false });
    const route: StreamRoute = {
      contentType: "text/event-stream",
      chunks: SSE_EVENTS,
      pace: () => Promise.resolve(),
      runs: 0,
    };
    const server = await start(idem, route);
    opened.server = server;

    const first = await callStream(holderUrl, "killed");
    const held = SSE_EVENTS.slice(0, HELD).join("");
    await until(() => first.text() === held, "the holder's first events");
    const follower = await callStream(server.url, "killed");
    expect(follower.headers["idempotent-replayed"]).toBe("true");
    await until(() => follower.text() === held, "the follower to catch up with the holder");

    child.kill("SIGKILL");
    const ended = await follower.done;
    expect(ended.startsWith(held)).toBe(true);
    const event = ended.slice(held.length);
    expect(event).toMatch(/^\n\nevent: oncely-error\ndata: (\{.*\})\n\n$/);
    expect(JSON.parse(/data: (.*)\n/.exec(event)![1]!)).toMatchObject({
      code: "stream_interrupted",
      reason: "holder_lost",
    });
    expect(route.runs).toBe(0);

    const retry = await callStream(server.url, "killed");
    expect(retry.headers["idempotent-replayed"]).toBeUndefined();
    expect(await retry.done).toBe(SSE_EVENTS.join(""));
    expect(route.runs).toBe(1);
    const replay = await callStream(server.url, "killed", { "last-event-id": "9" });
    expect(await replay.done).toBe(SSE_EVENTS.slice(10).join(""));
    expect(route.runs).toBe(1);
  });
});
