/**
 * An OpenAI-compatible chat completions endpoint whose streamed answers are guarded by oncely:
 * `npx tsx examples/streaming/server.ts` (`PORT`, default 3008), then the curl lines it prints. A fake model streams
 * its tokens as server-sent events, about 20 over a second, and every run of it is billed. Cut a stream off and send
 * the same request again with the same Idempotency-Key: the retry gets the whole answer, and only one call is billed.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { withIdempotency } from "../../src/adapters/node/index.js";
import { createIdempotency, type Store } from "../../src/index.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";

/** What the fake model answers, token by token, whatever it is asked. */
export const TOKENS = (
  "Retries are safe now: this answer was generated once, recorded as it streamed, and replayed to every retry " +
  "that asked again."
)
  .split(/(?<= )/)
  .slice(0, 20);

interface ChatRequest {
  model?: string;
  stream?: boolean;
}

/**
 * The chat server: `POST /v1/chat/completions` (streamed with `"stream": true`, guarded by oncely with
 * `stream: true`), `GET /stats` with the billed calls. `tokenDelay` is the pause before each token, ms.
 */
export function createChatServer(store: Store, options: { tokenDelay?: number } = {}) {
  const { tokenDelay = 50 } = options;
  const idem = createIdempotency({ store });
  const stats = { billed: 0 };

  const completions = withIdempotency(
    idem,
    async (req, res) => {
      const request = (await readJson(req)) as ChatRequest;
      const model = request.model ?? "fake-model";
      const id = `chatcmpl-${crypto.randomUUID().slice(0, 12)}`;
      const created = Math.floor(Date.now() / 1000);
      // The expensive part: every run of the model is billed.
      stats.billed++;
      if (!request.stream) {
        const message = { role: "assistant", content: TOKENS.join("") };
        return send(res, 200, {
          id,
          object: "chat.completion",
          created,
          model,
          choices: [{ index: 0, message, finish_reason: "stop" }],
        });
      }
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const chunk = (delta: object, finish: string | null) => ({
        id,
        object: "chat.completion.chunk",
        created,
        model,
        choices: [{ index: 0, delta, finish_reason: finish }],
      });
      for (const [index, token] of TOKENS.entries()) {
        await new Promise((resolve) => setTimeout(resolve, tokenDelay));
        const delta = index === 0 ? { role: "assistant", content: token } : { content: token };
        // Event ids let a client that lost the connection resume with Last-Event-ID.
        res.write(`id: ${index}\ndata: ${JSON.stringify(chunk(delta, null))}\n\n`);
      }
      res.write(`id: ${TOKENS.length}\ndata: ${JSON.stringify(chunk({}, "stop"))}\n\n`);
      res.end("data: [DONE]\n\n");
    },
    { stream: true },
  );

  const server = createServer((req, res) => {
    if (req.method === "POST" && req.url === "/v1/chat/completions") {
      completions(req, res).catch((error: unknown) => console.error(error));
    } else if (req.method === "GET" && req.url === "/stats") {
      send(res, 200, stats);
    } else {
      send(res, 404, { error: "not found" });
    }
  });
  return { server, idem, stats };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString());
  } catch {
    return {};
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3008);
  const path = join(tmpdir(), "oncely-streaming-example.db");
  const { server, idem } = createChatServer(new SqliteStore({ path }));
  await idem.ready();
  server.listen(port, "127.0.0.1", () => {
    const url = `http://127.0.0.1:${port}`;
    const ask = `curl -N ${url}/v1/chat/completions -H 'Idempotency-Key: chat-1' -H 'Content-Type: application/json' -d '{"model":"fake","stream":true,"messages":[{"role":"user","content":"hi"}]}'`;
    console.log(`oncely: streamed chat completions on ${url} (records in ${path})

  ${ask}    # press Ctrl-C halfway through
  ${ask}    # the whole answer: what was streamed so far, then the rest live (Idempotent-Replayed: true)
  curl -s ${url}/stats    # {"billed":1}
`);
  });
}
