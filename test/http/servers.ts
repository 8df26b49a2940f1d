import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { RunningServer, SpecResponse } from "./app-spec.js";

/** Listens on an ephemeral 127.0.0.1 port and returns its URL and a close that also drops idle sockets. */
export async function listen(server: Server): Promise<RunningServer> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function serveNode(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<RunningServer> {
  return listen(createServer(handler));
}

export async function readStream(req: AsyncIterable<Uint8Array | string>): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

export function writeNode(res: ServerResponse, out: SpecResponse): void {
  res.statusCode = out.status;
  const grouped = new Map<string, string[]>();
  for (const [name, value] of out.headers) grouped.set(name, [...(grouped.get(name) ?? []), value]);
  for (const [name, values] of grouped) res.setHeader(name, values.length === 1 ? values[0]! : values);
  res.end(out.body);
}
