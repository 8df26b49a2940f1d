import { once } from "node:events";
import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

/**
 * What the proxy does to traffic:
 * - `pass`: forwards both ways at once.
 * - `black-hole`: accepts connections and keeps them open, forwards nothing either way and opens no upstream
 *   connection. Bytes that arrive meanwhile are held, not dropped, and go through in order once the mode is `pass`
 *   again: TCP never loses bytes inside a live connection, it retransmits them after a partition heals. A partition
 *   that outlasts TCP's patience ends in a reset; simulate that with `black-hole`, then `reset`, then `pass`.
 * - `reset`: destroys every open connection with a TCP RST, and every new one as soon as it is accepted.
 * - `latency`: delays each chunk, in both directions, by `ms` (order kept; a round trip gains 2 × ms).
 */
export type FaultMode = { kind: "pass" } | { kind: "black-hole" } | { kind: "reset" } | { kind: "latency"; ms: number };

export const pass: FaultMode = { kind: "pass" };
export const blackHole: FaultMode = { kind: "black-hole" };
export const reset: FaultMode = { kind: "reset" };
export const latency = (ms: number): FaultMode => ({ kind: "latency", ms });

export interface FaultProxy {
  /** Where clients connect: 127.0.0.1 and an ephemeral port. */
  readonly host: string;
  readonly port: number;
  readonly mode: FaultMode;
  /** Switches the mode for open and new connections at once. */
  set(mode: FaultMode): void;
  /**
   * Silently kills every open connection: from now on their bytes are dropped both ways and they are never closed,
   * as when a firewall or NAT forgets a connection or a failover moves the server's address. New connections pass.
   */
  sever(): void;
  /** Connections open now, and counts since the start. */
  stats(): { open: number; accepted: number; reset: number };
  close(): Promise<void>;
}

/** One direction of one connection: chunks waiting for their due time (and for the mode to let them through). */
class Lane {
  readonly #queue: { due: number; chunk: Buffer }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #ended = false;
  /** Set by `sever()`: this connection's bytes are dropped from now on, and it is never closed. */
  dead = false;

  constructor(
    readonly proxy: { mode: FaultMode },
    readonly destination: () => Socket | undefined,
  ) {}

  push(chunk: Buffer): void {
    if (this.dead) return;
    const { mode } = this.proxy;
    const last = this.#queue.at(-1)?.due ?? 0;
    const due = Math.max(performance.now() + (mode.kind === "latency" ? mode.ms : 0), last);
    this.#queue.push({ due, chunk });
    this.flush();
  }

  /** The source ended: end the destination once everything queued has gone through. */
  end(): void {
    this.#ended = true;
    this.flush();
  }

  flush(): void {
    const socket = this.destination();
    if (this.proxy.mode.kind === "black-hole" || !socket || socket.connecting || socket.destroyed) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = performance.now();
    while (this.#queue.length > 0 && this.#queue[0]!.due <= now) socket.write(this.#queue.shift()!.chunk);
    if (this.#queue.length > 0) {
      this.#timer = setTimeout(() => this.flush(), Math.max(1, this.#queue[0]!.due - now));
    } else if (this.#ended) {
      socket.end();
    }
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#queue.length = 0;
  }
}

/** Starts a TCP proxy on 127.0.0.1:0 to `target`, in `pass` mode. */
export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const state = { mode: pass as FaultMode };
  const connections = new Set<Connection>();
  const severed = new Set<Connection>();
  const counts = { accepted: 0, reset: 0 };

  interface Connection {
    client: Socket;
    upstream?: Socket;
    toUpstream: Lane;
    toClient: Lane;
  }

  const openUpstream = (connection: Connection) => {
    if (connection.upstream || connection.client.destroyed) return;
    const upstream = tcpConnect(target);
    connection.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on("connect", () => connection.toUpstream.flush());
    upstream.on("data", (chunk: Buffer) => connection.toClient.push(chunk));
    upstream.on("end", () => connection.toClient.end());
    upstream.on("error", () => connection.client.destroy());
    upstream.on("close", () => {
      if (!connection.client.destroyed) connection.client.destroy();
    });
  };

  const resetConnection = (connection: Connection) => {
    counts.reset++;
    connection.toClient.clear();
    connection.toUpstream.clear();
    connection.client.resetAndDestroy();
    connection.upstream?.resetAndDestroy();
    connections.delete(connection);
  };

  const server: Server = createServer((client) => {
    counts.accepted++;
    client.on("error", () => {});
    if (state.mode.kind === "reset") {
      counts.reset++;
      client.resetAndDestroy();
      return;
    }
    client.setNoDelay(true);
    const connection: Connection = {
      client,
      toUpstream: new Lane(state, () => connection.upstream),
      toClient: new Lane(state, () => client),
    };
    connections.add(connection);
    client.on("data", (chunk: Buffer) => connection.toUpstream.push(chunk));
    client.on("end", () => connection.toUpstream.end());
    client.on("close", () => {
      connections.delete(connection);
      connection.toClient.clear();
      connection.upstream?.destroy();
    });
    if (state.mode.kind !== "black-hole") openUpstream(connection);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;

  return {
    host: "127.0.0.1",
    port,
    get mode() {
      return state.mode;
    },
    set(mode) {
      state.mode = mode;
      for (const connection of [...connections]) {
        if (mode.kind === "reset") {
          resetConnection(connection);
        } else if (mode.kind !== "black-hole") {
          openUpstream(connection);
          connection.toUpstream.flush();
          connection.toClient.flush();
        }
      }
    },
    sever() {
      for (const connection of connections) {
        for (const lane of [connection.toClient, connection.toUpstream]) {
          lane.clear();
          lane.dead = true;
        }
        severed.add(connection);
      }
      connections.clear();
    },
    stats: () => ({ open: connections.size, ...counts }),
    async close() {
      for (const connection of [...connections, ...severed]) {
        connection.client.destroy();
        connection.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
