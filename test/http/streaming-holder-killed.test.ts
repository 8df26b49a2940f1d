import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { withIdempotency } from "../../src/adapters/node/index.js";
import { createIdempotency } from "../../src/index.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";
import { until } from "../support/until.js";
import type { RunningServer } from "./app-spec.js";
import { listen } from "./servers.js";
import { callStream } from "./streaming-apps.js";
import { HELD, SSE_EVENTS } from "./streaming-holder-events.js";

// A holder killed mid-stream, for real: another process holds the record (on a SQLite file both share) and is sent
// SIGKILL after its first events. A follower joined through this process sees its stream end with the documented
// `oncely-error` event once the dead holder's lease lapses; the next retry runs the handler once, from the start.

const LEASE = 400;
const dir = mkdtempSync(join(tmpdir(), "oncely-stream-holder-"));
const path = join(dir, "records.db");
const opened: { child?: ChildProcess; server?: RunningServer; store?: SqliteStore } = {};
afterAll(async () => {
  opened.child?.kill("SIGKILL");
  await opened.server?.close();
  await opened.store?.close();
  rmSync(dir, { recursive: true, force: true });
});

it("a killed holder ends its followers' server-sent events with oncely-error; the next retry runs once", async () => {
  const child = fork(fileURLToPath(new URL("./streaming-holder.ts", import.meta.url)), [path, String(LEASE)], {
    execArgv: ["--import", "tsx"],
    stdio: "ignore",
  });
  opened.child = child;
  const [holderUrl] = (await once(child, "message")) as [string];

  const store = new SqliteStore({ path });
  opened.store = store;
  const idem = createIdempotency({ store, lease: LEASE, logger: false });
  let runs = 0;
  const handler = withIdempotency(
    idem,
    (_req, res) => {
      runs++;
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (const event of SSE_EVENTS) res.write(event);
      res.end();
    },
    { stream: true },
  );
  const server = await listen(createServer((req, res) => void handler(req, res)));
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
  expect(runs).toBe(0);

  const retry = await callStream(server.url, "killed");
  expect(retry.headers["idempotent-replayed"]).toBeUndefined();
  expect(await retry.done).toBe(SSE_EVENTS.join(""));
  expect(runs).toBe(1);
  const replay = await callStream(server.url, "killed", { "last-event-id": "9" });
  expect(await replay.done).toBe(SSE_EVENTS.slice(10).join(""));
  expect(runs).toBe(1);
});
