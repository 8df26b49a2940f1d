import { once } from "node:events";
import { type AddressInfo, createServer, type Socket, connect as tcpConnect } from "node:net";

/** A TCP proxy in front of a server that counts the round trips its clients make. */
export interface RoundTripProxy {
  /** Where clients connect: 127.0.0.1 and an ephemeral port. */
  readonly port: number;
  /**
   * Round trips so far, over all connections: each time a client sends after the server last spoke (or first) counts
   * one. A request split over several packets, or several requests sent together (a pipeline), count as one; a
   * protocol's own exchanges (handshake, authentication) count like any other.
   */
  roundTrips(): number;
  close(): Promise<void>;
}

/**
 * Starts a proxy to `host:port` that counts round trips at the wire, whatever the protocol (Redis, PostgreSQL,
 * MySQL): what the server received, not what a client library says it sent.
 */
export async function roundTripProxy(host: string, port: number): Promise<RoundTripProxy> {
  let roundTrips = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = tcpConnect({ host, port });
    let clientSpokeLast = false;
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (chunk: Buffer) => {
      if (!clientSpokeLast) roundTrips++;
      clientSpokeLast = true;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      clientSpokeLast = false;
      client.write(chunk);
    });
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    roundTrips: () => roundTrips,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
