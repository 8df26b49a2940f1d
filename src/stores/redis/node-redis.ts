import type { ScriptArg, ScriptCall, ScriptConnection } from "./script-store.js";
import type { Script } from "./scripts.js";

/**
 * A node-redis client (`createClient()` from the `redis` package, version 5 or newer), as `RedisStore` uses it: you
 * connect it (`await client.connect()`) and close it; the store only sends commands. A node-redis Cluster
 * (`createCluster()`) is not taken: its commands need the key that routes them, and the store's index walks need each
 * master; use an ioredis or iovalkey `Cluster` there.
 */
export interface NodeRedisClient {
  /** Sends one command; the store asks for bulk strings as Buffers through `typeMapping`. */
  sendCommand(args: readonly (string | Buffer)[], options?: { typeMapping?: object }): Promise<unknown>;
  /** Not called by the store: its presence tells node-redis 5 and newer from node-redis 4. */
  withTypeMapping(mapping: object): unknown;
}

/** RESP's type byte for a bulk string (`$`): node-redis's `RESP_TYPES.BLOB_STRING`, mapped to Buffer below. */
const BLOB_STRING = 36;

/**
 * Whether `client` has node-redis 5's shape: `sendCommand` taking per-command options, and `withTypeMapping`. A
 * Cluster (`masters`) and node-redis 4 (no `withTypeMapping`) have other shapes.
 */
export function isNodeRedis(client: unknown): client is NodeRedisClient {
  const candidate = client as Partial<NodeRedisClient> & { masters?: unknown };
  return (
    typeof candidate?.sendCommand === "function" &&
    typeof candidate.withTypeMapping === "function" &&
    candidate.masters === undefined
  );
}

/** Whether `client` is a node-redis Cluster (`createCluster()`): it has `masters`, which a single client lacks. */
export function isNodeRedisCluster(client: unknown): boolean {
  const candidate = client as { sendCommand?: unknown; masters?: unknown };
  return typeof candidate?.sendCommand === "function" && Array.isArray(candidate.masters);
}

/**
 * The scripts over node-redis: EVALSHA, and EVAL when the server answers NOSCRIPT (once per script per server, or
 * after SCRIPT FLUSH), with bulk strings as Buffers so bodies stay bytes. node-redis writes the commands issued in one
 * tick together, so `runAll` needs no pipeline object of its own.
 */
export function nodeRedisConnection(client: NodeRedisClient): ScriptConnection {
  const asBuffers = { typeMapping: { [BLOB_STRING]: Buffer } };
  const run = async (script: Script, keys: readonly string[], args: readonly ScriptArg[]) => {
    const rest = [String(keys.length), ...keys, ...args.map(toArgument)];
    try {
      return await client.sendCommand(["EVALSHA", script.sha, ...rest], asBuffers);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return client.sendCommand(["EVAL", script.lua, ...rest], asBuffers);
    }
  };
  return {
    cluster: false,
    keyPrefix: "",
    binary: true,
    run,
    async runAll(calls: readonly ScriptCall[]) {
      await Promise.all(calls.map((call) => run(...call)));
    },
    indexedShards: () => Promise.reject(new Error("a node-redis client is not a Cluster")),
    servers: () => 1,
    async scan(_server, cursor, match, count) {
      const args = ["SCAN", cursor, "MATCH", match, "COUNT", String(count), "TYPE", "hash"];
      const [next, keys] = (await client.sendCommand(args)) as [string, string[]];
      return [String(next), keys];
    },
  };
}

/** node-redis sends strings and Buffers: numbers as their text, other bytes as a Buffer over the same memory. */
function toArgument(arg: ScriptArg): string | Buffer {
  if (typeof arg === "number") return String(arg);
  if (typeof arg === "string" || Buffer.isBuffer(arg)) return arg;
  return Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength);
}
