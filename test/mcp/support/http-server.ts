import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";

export interface ServeOptions {
  /** Stateful: one server and transport per session (Mcp-Session-Id). Stateless: one per request. */
  mode: "stateful" | "stateless";
  /** Answer with one JSON body instead of an SSE stream. */
  json?: boolean;
  /** The verified caller, as an auth middleware would set `req.auth`. */
  auth?: (request: IncomingMessage) => AuthInfo | undefined;
}

export interface ServedMcp {
  url: string;
  /** Destroys the socket of the next `tools/call` answer as it is written: the tool ran, its answer is lost. */
  loseNextAnswer(): void;
  /** Forgets every session, as a restarted server would: a request with an old session id gets 404. */
  forgetSessions(): void;
  /** How many answers were lost so far. */
  readonly lost: number;
  close(): Promise<void>;
}

/** An MCP server on Streamable HTTP at `/mcp`, over a real socket, as the SDK's examples set one up. */
export async function serveMcp(makeServer: () => McpServer, options: ServeOptions): Promise<ServedMcp> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const servers: McpServer[] = [];
  let losing = 0;
  let lost = 0;

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (options.auth) (request as IncomingMessage & { auth?: AuthInfo }).auth = options.auth(request);
    let body: unknown;
    if (request.method === "POST") {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      if ((body as { method?: string }).method === "tools/call" && losing > 0) {
        losing -= 1;
        loseAnswer(request, response);
      }
    }
    const sessionId = request.headers["mcp-session-id"] as string | undefined;
    let transport = sessionId ? sessions.get(sessionId) : undefined;
    if (!transport) {
      if (sessionId) {
        response
          .writeHead(404)
          .end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null }));
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: options.mode === "stateful" ? () => randomUUID() : undefined,
        enableJsonResponse: options.json ?? false,
        onsessioninitialized: (id) => {
          sessions.set(id, transport!);
        },
      });
      const server = makeServer();
      servers.push(server);
      await server.connect(transport);
      if (options.mode === "stateless") response.on("close", () => void server.close());
    }
    await transport.handleRequest(request, response, body);
  }

  /** The answer's first bytes that carry a JSON-RPC result destroy the socket instead of going out. */
  function loseAnswer(request: IncomingMessage, response: ServerResponse): void {
    const cut = (chunk: unknown) => {
      const text = chunk instanceof Uint8Array ? Buffer.from(chunk).toString("utf8") : String(chunk ?? "");
      if (text.includes('"result"')) {
        lost += 1;
        request.socket.destroy();
        return true;
      }
      return false;
    };
    const write = response.write.bind(response) as (...args: unknown[]) => boolean;
    const end = response.end.bind(response) as (...args: unknown[]) => ServerResponse;
    response.write = ((chunk: unknown, ...rest: unknown[]) => (cut(chunk) ? true : write(chunk, ...rest))) as never;
    response.end = ((chunk: unknown, ...rest: unknown[]) => (cut(chunk) ? response : end(chunk, ...rest))) as never;
  }

  const http = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500).end(String(error));
    });
  });
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    loseNextAnswer: () => {
      losing += 1;
    },
    forgetSessions: () => sessions.clear(),
    get lost() {
      return lost;
    },
    async close() {
      http.closeAllConnections();
      await Promise.all(servers.map((server) => server.close().catch(() => {})));
      await new Promise((resolve) => http.close(resolve));
    },
  };
}
