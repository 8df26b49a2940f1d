import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { services } from "./services.js";

// TEST FIXTURE, not a product: a small server that speaks Upstash's documented REST protocol
// (https://upstash.com/docs/redis/features/restapi) in front of a real Redis, so that UpstashStore and
// @upstash/redis run unchanged against real Redis semantics (Lua, TIME, expiry) in tests and benchmarks. It covers
// what @upstash/redis sends for UpstashStore:
// - `POST /` with a JSON array (`["EVALSHA", sha, "1", "key", "arg"]`): `{"result": ...}`, or `{"error": "..."}` with
//   status 400;
// - `POST /pipeline` with an array of such arrays: an array of `{"result"}` / `{"error"}`, status 200;
// - `Authorization: Bearer <token>` (401 without it);
// - `Upstash-Encoding: base64`: every string in a result is sent as the base64 of its bytes (integers stay numbers,
//   nil stays null), which is how bytes that are not UTF-8 cross JSON.
// Not covered: `/multi-exec` transactions, commands in the URL path, and the read-your-writes sync token (one Redis
// behind one fixture is always consistent).

/** A running fixture: where its REST API listens, its token, and how many HTTP requests it has answered. */
export interface UpstashRest {
  /** `http://127.0.0.1:<port>`, what `UPSTASH_REDIS_REST_URL` would hold. */
  readonly url: string;
  readonly token: string;
  /** HTTP requests answered so far (each is one round trip of the store). */
  requests(): number;
  /** The commands received so far, lower case (`evalsha`, `eval`...), a pipeline's in order. */
  commands(): string[];
  close(): Promise<void>;
}

/** A reply from ioredis's `callBuffer`: strings as Buffers, integers, nil, nested arrays. */
type RedisReply = Buffer | number | null | RedisReply[] | Error;

/** Starts the fixture on an ephemeral port, forwarding to `redisUrl` (the test Redis by default). */
export async function startUpstashRest(options: { redisUrl?: string; token?: string } = {}): Promise<UpstashRest> {
  const token = options.token ?? "fixture-token";
  const redis = new Redis(options.redisUrl ?? services.redis.url);
  let requests = 0;
  const commands: string[] = [];
  const server = createServer((request, response) => {
    requests++;
    answer(redis, token, request, response, commands).catch((error: unknown) =>
      send(response, 500, { error: String(error) }),
    );
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    requests: () => requests,
    commands: () => [...commands],
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
      await redis.quit();
    },
  };
}

async function answer(
  redis: Redis,
  token: string,
  request: IncomingMessage,
  response: ServerResponse,
  commands: string[],
) {
  if (request.headers.authorization !== `Bearer ${token}`) return send(response, 401, { error: "Unauthorized" });
  if (request.method !== "POST") return send(response, 405, { error: "the fixture takes POST only" });
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString()) as unknown;
  const base64 = String(request.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
  const path = (request.url ?? "/").split("?")[0];
  const log = (command: unknown) => commands.push(String(Array.isArray(command) ? command[0] : "").toLowerCase());
  if (path === "/" || path === "") {
    log(body);
    const reply = await call(redis, body);
    if (reply instanceof Error) return send(response, 400, { error: reply.message });
    return send(response, 200, { result: encode(reply, base64) });
  }
  if (path === "/pipeline") {
    if (!Array.isArray(body)) return send(response, 400, { error: "a pipeline is an array of commands" });
    for (const command of body) log(command);
    // Sent together, so they reach Redis as one pipeline and in order, as Upstash runs them.
    const replies = await Promise.all(body.map((command) => call(redis, command)));
    return send(
      response,
      200,
      replies.map((reply) => (reply instanceof Error ? { error: reply.message } : { result: encode(reply, base64) })),
    );
  }
  return send(response, 404, { error: `the fixture does not serve ${path}` });
}

/** Runs one command (a JSON array of strings and numbers) on Redis; an error reply comes back as an Error. */
async function call(redis: Redis, command: unknown): Promise<RedisReply> {
  if (!Array.isArray(command) || command.length === 0) return new Error("ERR a command is a non-empty array");
  const [name, ...args] = command.map(String) as [string, ...string[]];
  try {
    return (await redis.callBuffer(name, ...args)) as RedisReply;
  } catch (error) {
    return error as Error;
  }
}

function encode(reply: RedisReply, base64: boolean): unknown {
  if (Buffer.isBuffer(reply)) return base64 ? reply.toString("base64") : reply.toString();
  if (Array.isArray(reply)) return reply.map((item) => encode(item, base64));
  if (reply instanceof Error) return reply.message;
  return reply;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}
