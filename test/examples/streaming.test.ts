import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChatServer, TOKENS } from "../../examples/streaming/server.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";
import type { RunningServer } from "../http/app-spec.js";
import { listen } from "../http/servers.js";
import { callStream } from "../http/streaming-apps.js";
import { until } from "../support/until.js";

// The example's promise, over real sockets: a chat completion streamed as server-sent events, cut off halfway, and
// asked again with the same Idempotency-Key, comes out whole, and the model runs (and is billed) once.

const TEXT = TOKENS.join("");
const REQUEST = { model: "fake", stream: true, messages: [{ role: "user", content: "hi" }] };

/** The text of a chat completion stream, from its `data:` events. */
function streamedText(sse: string): string {
  let text = "";
  for (const line of sse.split("\n")) {
    if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
    text +=
      (JSON.parse(line.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]!.delta.content ?? "";
  }
  return text;
}

describe("example: streamed chat completions", () => {
  const dir = mkdtempSync(join(tmpdir(), "oncely-streaming-example-"));
  let server: RunningServer;
  let demo: ReturnType<typeof createChatServer>;
  beforeAll(async () => {
    demo = createChatServer(new SqliteStore({ path: join(dir, "records.db") }), { tokenDelay: 20 });
    server = await listen(demo.server);
  });
  afterAll(async () => {
    await server.close();
    await demo.idem.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const billed = async () => ((await (await fetch(`${server.url}/stats`)).json()) as { billed: number }).billed;

  it("a connection dropped mid-stream: the retry completes the text, with one billed call", async () => {
    const init = { path: "/v1/chat/completions", body: JSON.stringify(REQUEST) };
    const first = await callStream(server.url, "chat-dropped", {}, init);
    await until(() => streamedText(first.text()).length >= TOKENS.slice(0, 3).join("").length, "three tokens");
    first.drop();
    const retry = await callStream(server.url, "chat-dropped", {}, init);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    const sse = await retry.done;
    expect(streamedText(sse)).toBe(TEXT);
    expect(sse.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(await billed()).toBe(1);
  });

  it("the openai SDK's stream, cut and asked again with the caller's Idempotency-Key: the whole text, one billed call", async () => {
    const before = await billed();
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-test", maxRetries: 0 });
    const ask = () =>
      openai.chat.completions.create(
        { model: "fake", stream: true, messages: [{ role: "user", content: "hi" }] },
        { headers: { "Idempotency-Key": "sdk-chat-1" } },
      );
    const cut = await ask();
    let partial = "";
    for await (const chunk of cut) {
      partial += chunk.choices[0]?.delta.content ?? "";
      if (partial.length >= TOKENS.slice(0, 4).join("").length) break;
    }
    expect(TEXT.startsWith(partial)).toBe(true);
    expect(partial.length).toBeLessThan(TEXT.length);
    let text = "";
    for await (const chunk of await ask()) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe(TEXT);
    expect(await billed()).toBe(before + 1);
  });
});
