import type { Redis } from "@upstash/redis";
import type { ScriptArg, ScriptCall, ScriptConnection } from "../redis/script-store.js";
import type { Script } from "../redis/scripts.js";

/**
 * The scripts over Upstash's REST API: each one EVALSHA request, and EVAL when the database answers NOSCRIPT (the
 * first time it meets a script, or after SCRIPT FLUSH). Arguments travel as JSON strings and numbers, so a body is
 * written as base64 text (`binary: false`); replies come back as text, which the client has already decoded from
 * the base64 it asks for (`Upstash-Encoding`), and no deserialization of its own (`automaticDeserialization: false`).
 * An Upstash database is one Redis as far as a client can see: no Cluster, one index per prefix.
 */
export function upstashConnection(client: Redis): ScriptConnection {
  const load = (script: Script, keys: readonly string[], args: readonly ScriptArg[]) =>
    client.eval(script.lua, [...keys], [...args]).catch((error: unknown) => {
      throw concise(error);
    });
  const run = async (script: Script, keys: readonly string[], args: readonly ScriptArg[]) => {
    try {
      return await client.evalsha(script.sha, [...keys], [...args]);
    } catch (error) {
      if (!isNoScript(error)) throw concise(error);
      return load(script, keys, args);
    }
  };
  return {
    cluster: false,
    keyPrefix: "",
    binary: false,
    run,
    /** One `/pipeline` request; the scripts the database did not have yet go again, as EVAL. */
    async runAll(calls: readonly ScriptCall[]) {
      const pipeline = client.pipeline();
      for (const [script, keys, args] of calls) pipeline.evalsha(script.sha, [...keys], [...args]);
      const replies = await pipeline.exec({ keepErrors: true }).catch((error: unknown) => {
        throw concise(error);
      });
      const missing = calls.filter((_, i) => replies[i]?.error !== undefined && isNoScript(replies[i]!.error));
      const failed = replies.find(({ error }) => error !== undefined && !isNoScript(error));
      if (failed) throw new Error(String(failed.error));
      await Promise.all(missing.map((call) => load(...call)));
    },
    indexedShards: () => Promise.reject(new Error("an Upstash database has no Cluster shards")),
    servers: () => 1,
    async scan(_server, cursor, match, count) {
      const [next, keys] = (await client.scan(cursor, { match, count, type: "hash" })) as [string | number, string[]];
      return [String(next), keys];
    },
  };
}

function isNoScript(error: unknown): boolean {
  return /NOSCRIPT/.test(error instanceof Error ? error.message : String(error));
}

/**
 * @upstash/redis appends the whole command to an error's message (", command was: [...]"): the script's source, and
 * the request's body as base64. The store's errors carry Redis's own message only.
 */
function concise(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const at = error.message.indexOf(", command was: ");
  if (at === -1) return error;
  const short = new Error(error.message.slice(0, at));
  short.name = error.name;
  return short;
}
