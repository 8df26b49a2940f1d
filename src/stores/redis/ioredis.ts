import type { Cluster, Redis } from "ioredis";
import { scriptSender, toBuffer } from "./ioredis-commands.js";
import { indexScripts, NON_EMPTY_SHARDS } from "./record-index.js";
import type { ScriptArg, ScriptCall, ScriptConnection } from "./script-store.js";
import { type Script, scripts } from "./scripts.js";
import { streamScripts } from "./stream.js";

/** An ioredis client, or an iovalkey one (its fork, with the same API). */
export type IoredisClient = Redis | Cluster;

/** Whether `client` has ioredis's shape (iovalkey's too): scripts are registered on it with `defineCommand`. */
export function isIoredis(client: unknown): client is IoredisClient {
  return typeof (client as Partial<IoredisClient> | undefined)?.defineCommand === "function";
}

/**
 * The scripts on an ioredis (or iovalkey) `Redis` or `Cluster`: registered with `defineCommand` (its pipelines and
 * auto-pipelining send them), and sent one by one as commands of `ioredis-commands.ts`, with replies as Buffers.
 */
export function ioredisConnection(client: IoredisClient): ScriptConnection {
  defineScripts(client, scripts);
  defineScripts(client, indexScripts);
  defineScripts(client, streamScripts);
  const commands = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const send = scriptSender(client);
  // The user's auto-pipelining goes through ioredis's own script commands, which it batches.
  const run = client.options.enableAutoPipelining
    ? (script: Script, keys: readonly string[], args: readonly ScriptArg[]) =>
        commands[`${script.name}Buffer`]!(...keys, ...args.map(toBuffer))
    : (script: Script, keys: readonly string[], args: readonly ScriptArg[]) => {
        coalesceWrites(client);
        return send(script, keys, args);
      };
  return {
    cluster: client.isCluster,
    keyPrefix: client.options.keyPrefix ?? "",
    binary: true,
    run,
    /** One pipeline on a `Redis`; on a Cluster, whose pipelines stay within one slot, the scripts go out together. */
    async runAll(calls: readonly ScriptCall[]) {
      if (client.isCluster) {
        await Promise.all(calls.map((call) => run(...call)));
        return;
      }
      const pipeline = client.pipeline() as unknown as Record<string, (...args: unknown[]) => unknown> & {
        exec(): Promise<[Error | null, unknown][] | null>;
      };
      for (const [script, keys, args] of calls) pipeline[script.name]!(...keys, ...args.map(toBuffer));
      for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
    },
    /**
     * One EVAL per master finds which of its slots hold an index: Redis lets a script without flags read keys of any
     * slot its node serves, where a script per slot would cost a round trip each.
     */
    async indexedShards(base: string, tags: readonly string[]) {
      const cluster = client as Cluster;
      const owned = new Map<string, string[]>();
      for (const [slot, tag] of tags.entries()) {
        const master = cluster.slots[slot]?.[0];
        if (master === undefined) throw new Error(`no Cluster node serves slot ${slot}`);
        const mine = owned.get(master);
        if (mine) mine.push(tag);
        else owned.set(master, [tag]);
      }
      const found = new Set<string>();
      await Promise.all(
        cluster.nodes("master").map(async (node) => {
          const mine = owned.get(`${node.options.host}:${node.options.port}`) ?? [];
          if (mine.length === 0) return;
          for (const tag of (await node.eval(NON_EMPTY_SHARDS, 0, base, ...mine)) as string[]) found.add(tag);
        }),
      );
      return found;
    },
    servers: () => mastersOf(client).length,
    scan: (server, cursor, match, count) =>
      mastersOf(client)[server]!.scan(cursor, "MATCH", match, "COUNT", count, "TYPE", "hash"),
  };
}

/** The servers to scan: every master of a Cluster, or the one server. */
function mastersOf(client: IoredisClient): Redis[] {
  return client.isCluster ? (client as Cluster).nodes("master") : [client as Redis];
}

/** Registers scripts on a client (`defineCommand`), once per client. */
function defineScripts(client: IoredisClient, defined: Record<string, Script>): void {
  for (const { name, lua, keys } of Object.values(defined)) {
    if (typeof (client as unknown as Record<string, unknown>)[name] !== "function") {
      client.defineCommand(name, { lua, numberOfKeys: keys });
    }
  }
}

/** Connections whose writes are held until the event loop's check phase (see `coalesceWrites`). */
const corked = new WeakSet<object>();

/**
 * Holds a connection's writes until the event loop's check phase (`setImmediate`), so the commands of every request
 * that arrived in one turn of the loop leave in one system call instead of one each; order and bytes are unchanged.
 * Holding them only to the end of the current tick (`process.nextTick`) batched nothing on a server: each socket's
 * data is its own tick there, so every claim cost a `write` of its own. Counted with strace in a Fastify server on
 * Redis, 50 connections: writes to Redis per replay 1.0 -> 0.03, per new key 1.07 -> 0.09; and a system call is the
 * largest single cost of a request on these machines. ioredis's own `enableAutoPipelining` cost more than it saved
 * (a pipeline object per batch). A Cluster has a connection per node, and is left as it is.
 */
function coalesceWrites(client: IoredisClient): void {
  if (client.isCluster || client.status !== "ready") return;
  const { stream } = client as Redis;
  if (corked.has(stream)) return;
  corked.add(stream);
  // Here once per batch rather than once per command, as the corking is.
  readRepliesAtOnce(stream);
  stream.cork();
  setImmediate(() => {
    corked.delete(stream);
    stream.uncork();
  });
}

/** Connections whose replies reach ioredis as they are read (see `readRepliesAtOnce`). */
const direct = new WeakSet<object>();

/**
 * ioredis and iovalkey listen to their socket's data with `prependListener("data", ...)`, which Node's
 * Readable does not count as a data listener (only `on`/`addListener` do): so every chunk of replies is buffered,
 * and handed over a step of the event loop later through `read()`, instead of emitted as it is read. A listener added
 * and removed here makes the socket count ioredis's, and replies go straight to its parser, in the same order;
 * nothing stays attached. A socket paused on purpose stays paused. Done once per socket (a reconnect makes a new one).
 */
function readRepliesAtOnce(stream: NodeJS.ReadableStream): void {
  if (direct.has(stream)) return;
  direct.add(stream);
  stream.on("data", noop);
  stream.removeListener("data", noop);
}

function noop(): void {}
