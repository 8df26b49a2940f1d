import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { callStream, gate } from "../http/streaming-apps.js";
import { SSE_EVENTS } from "../http/streaming-holder-events.js";
import { until } from "../support/until.js";
import { listen } from "./proxy/harness.js";
import { spawnProxy } from "./proxy/spawn-proxy.js";
import { runCli } from "./run-cli.js";

// `oncely proxy` as an operator runs it, with `"stream": true` on a route in its config file: an upstream's
// server-sent events go through to the first caller as they come, a retry after the caller dropped joins the stream,
// and the upstream runs once. (Every streaming case, through the proxy in-process: test/http/streaming.test.ts.)

const dir = mkdtempSync(join(tmpdir(), "oncely-proxy-stream-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("oncely proxy: a streaming route", { timeout: 60_000 }, () => {
  it("passes an upstream's events through as they come; a retry after a drop joins them, one upstream run", async () => {
    let runs = 0;
    const held = gate();
    const upstream = await listen(async (req, res) => {
      for await (const _ of req);
      runs++;
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (const [index, event] of SSE_EVENTS.entries()) {
        if (index === 5) await held.wait();
        res.write(event);
      }
      res.end();
    });
    const config = join(dir, "stream.json");
    writeFileSync(config, JSON.stringify({ routes: [{ route: "POST /v1/chat/completions", stream: true }] }));
    const proxy = await spawnProxy([
      "--upstream",
      upstream.url,
      "--store",
      `sqlite:${join(dir, "stream.db")}`,
      "--config",
      config,
      "--port",
      "0",
    ]);
    try {
      const path = { path: "/v1/chat/completions" };
      const first = await callStream(proxy.url, "chat-1", {}, path);
      const before = SSE_EVENTS.slice(0, 5).join("");
      await until(() => first.text() === before, "the first five events, before the upstream's end");
      first.drop();
      const retry = await callStream(proxy.url, "chat-1", {}, path);
      expect(retry.headers["idempotent-replayed"]).toBe("true");
      held.open();
      expect(await retry.done).toBe(SSE_EVENTS.join(""));
      const replay = await callStream(proxy.url, "chat-1", { "last-event-id": "14" }, path);
      expect(await replay.done).toBe(SSE_EVENTS.slice(15).join(""));
      expect(runs).toBe(1);
    } finally {
      await proxy.stop();
      await upstream.close();
    }
  });

  it("refuses to start when the store cannot record streams, in one line", async () => {
    // Upstash's REST API has no blocking read to follow a stream with: its store records none. Refused before the
    // proxy connects anywhere (nothing listens on port 9).
    const config = join(dir, "upstash.json");
    writeFileSync(config, JSON.stringify({ routes: [{ route: "POST /x", stream: true }] }));
    const result = await runCli([
      "proxy",
      "--upstream",
      "http://127.0.0.1:9",
      "--store",
      "upstash+http://127.0.0.1:9?token=t",
      "--config",
      config,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^oncely: route "POST \/x": `stream: true` needs a store that records streams/);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });
});
