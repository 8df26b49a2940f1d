import { createServer, type ServerResponse } from "node:http";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotency } from "../../src/adapters/express/index.js";
import { withIdempotency } from "../../src/adapters/node/index.js";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { listen } from "../http/servers.js";

// Found when the test apps' error path changed: a node:http handler threw, oncely's wrapper answered 500 (held back
// until the release was stored), and the app's own catch then called `res.end()` on a response that still looked
// open. That end went to the socket at once, and the held end that followed was a write after end: an uncaught
// ERR_STREAM_WRITE_AFTER_END, which crashes the process. Anything the app writes or ends after its first end is now
// dropped, as after a real end.
describe("regression: the app ends a response again while oncely holds it back", () => {
  let node: RunningServer;
  let app: RunningServer;
  const runs = new Map<string, number>();
  const run = (name: string) => {
    runs.set(name, (runs.get(name) ?? 0) + 1);
    return runs.get(name)!;
  };
  const ending = (res: ServerResponse, name: string) => {
    res.setHeader("content-type", "text/plain");
    res.end(`first end, run ${run(name)}`);
    res.write("written after the end");
    res.end("second end");
  };

  beforeAll(async () => {
    const idem = createIdempotency({ store: new MemoryStore() });
    const throwing = withIdempotency(idem, () => {
      run("throws");
      throw new Error("handler failed");
    });
    const twice = withIdempotency(idem, (_req, res) => ending(res, "node"));
    node = await listen(
      createServer((req, res) => {
        const handler = req.url === "/throws" ? throwing : twice;
        handler(req, res).catch(() => {
          if (!res.headersSent) res.statusCode = 500;
          res.end("from the app's catch");
        });
      }),
    );
    const expressApp = express();
    expressApp.post("/twice", idempotency(idem), (_req, res) => ending(res, "express"));
    app = await listen(createServer(expressApp));
  });
  afterAll(async () => {
    await node.close();
    await app.close();
  });

  const post = (url: string, key: string) => fetch(url, { method: "POST", headers: { "idempotency-key": key } });

  it("answers oncely's 500 for a thrown handler, and the retry runs the handler again", async () => {
    const first = await post(`${node.url}/throws`, "thrown");
    expect(first.status).toBe(500);
    expect(await first.text()).toBe("");
    expect((await post(`${node.url}/throws`, "thrown")).status).toBe(500);
    expect(runs.get("throws")).toBe(2);
  });

  for (const [name, path] of [
    ["node", "/twice"],
    ["express", "/twice"],
  ] as const) {
    it(`${name}: sends and stores the first end only, and replays it`, async () => {
      const url = `${name === "node" ? node.url : app.url}${path}`;
      const first = await post(url, `twice-${name}`);
      expect(await first.text()).toBe("first end, run 1");
      const replay = await post(url, `twice-${name}`);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(await replay.text()).toBe("first end, run 1");
      expect(runs.get(name)).toBe(1);
    });
  }
});
