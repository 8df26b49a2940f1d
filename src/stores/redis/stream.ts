import type { Cluster, Redis } from "ioredis";
import type { StreamRead, StreamRunState } from "../../core/store.js";
import type { ScriptConnection } from "./script-store.js";
import { script } from "./scripts.js";

/**
 * The Redis store's stream logs (`stream: true` routes): a Redis Stream per run at `<record key>:stream:<token>`, in
 * the record's Cluster slot (the key keeps the record's hash tag), so a follower of one run never reads another
 * run's entries. An entry's position is its stream id (`0-1` is position 0), so a follower reads on from where it
 * is. Appending is fenced by the record's token in the same script; reading returns the run's state with its
 * entries; a follower with nothing new blocks on the stream with `XREAD BLOCK` on a connection of its own, and wakes
 * on the append itself: no polling.
 */

const APPEND = `
local now = clock()
if not held(KEYS[1], ARGV[1], now) then return 0 end
local seq = redis.call("XLEN", KEYS[2])
for i = 3, #ARGV do
  seq = seq + 1
  redis.call("XADD", KEYS[2], "0-" .. seq, "e", ARGV[i])
end
redis.call("PEXPIRE", KEYS[2], ARGV[2])
return 1
`;

const READ = `
local now = clock()
local state, token, lease_until, expires_at =
  unpack(redis.call("HMGET", KEYS[1], "state", "token", "lease_until", "expires_at"))
local run = "gone"
if state and tonumber(token) == tonumber(ARGV[1]) and tonumber(expires_at) > now then
  if state == "completed" then
    run = "completed"
  elseif state == "in-flight" and tonumber(lease_until) > now then
    run = "held"
  end
end
local reply = { run }
for _, entry in ipairs(redis.call("XRANGE", KEYS[2], "0-" .. (tonumber(ARGV[2]) + 1), "+")) do
  table.insert(reply, entry[2][2])
end
return reply
`;

export const streamScripts = {
  appendStream: script("append_stream", APPEND, 2),
  readStream: script("read_stream", READ, 2),
};

/** The key of the stream log of the run `token` holds on the record at `recordKey`. */
export function streamKey(recordKey: string, token: number): string {
  return `${recordKey}:stream:${token}`;
}

/** Appends entries after the run's earlier ones, in one script fenced by the token; true when appended. */
export async function appendEntries(
  connection: ScriptConnection,
  recordKey: string,
  token: number,
  entries: Uint8Array[],
  ttl: number,
): Promise<boolean> {
  const reply = await connection.run(
    streamScripts.appendStream,
    [recordKey, streamKey(recordKey, token)],
    [token, ttl, ...entries],
  );
  return Number(reply) === 1;
}

/** The run's state and its entries from `from`, in one script. */
export async function readEntries(
  connection: ScriptConnection,
  recordKey: string,
  token: number,
  from: number,
): Promise<StreamRead> {
  const reply = (await connection.run(
    streamScripts.readStream,
    [recordKey, streamKey(recordKey, token)],
    [token, from],
  )) as Uint8Array[];
  const [state, ...entries] = reply as [Uint8Array, ...Uint8Array[]];
  return {
    state: String.fromCharCode(...state) as StreamRunState,
    entries: entries.map((entry) => new Uint8Array(entry)),
  };
}

/** Idle blocking connections kept for the next follower; more are closed once their read is over. */
const IDLE_KEPT = 16;

/**
 * The connections followers block on: `XREAD BLOCK` holds its connection until it answers, so it never runs on the
 * store's shared one. Each is a `duplicate()` of the store's client, opened when no idle one is left.
 */
export class BlockingReads {
  readonly #idle: (Redis | Cluster)[] = [];
  #closed = false;

  /** Waits up to `wait` ms for an entry past position `from - 1` of the run's stream (or for it to appear). */
  async wait(client: Redis | Cluster, recordKey: string, token: number, from: number, wait: number): Promise<void> {
    const connection = this.#idle.pop() ?? opened((client as { duplicate(): Redis | Cluster }).duplicate());
    try {
      // A duplicate of a client that connects lazily, and refuses commands while not connected, connects first.
      if (connection.status === "wait") await connection.connect();
      await connection.xread("COUNT", 1, "BLOCK", wait, "STREAMS", streamKey(recordKey, token), `0-${from}`);
    } catch (error) {
      connection.disconnect();
      throw error;
    }
    if (this.#closed || this.#idle.length >= IDLE_KEPT) connection.disconnect();
    else this.#idle.push(connection);
  }

  /** Closes the idle connections; those still blocked close when their read is over. */
  close(): void {
    this.#closed = true;
    for (const connection of this.#idle.splice(0)) connection.disconnect();
  }
}

/** A new blocking connection: its errors reach the read that fails, not the process's log. */
function opened(connection: Redis | Cluster): Redis | Cluster {
  connection.on("error", () => {});
  return connection;
}
