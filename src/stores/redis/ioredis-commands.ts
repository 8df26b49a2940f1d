import type { Cluster, Redis } from "ioredis";
import type { ScriptArg } from "./script-store.js";
import type { Script } from "./scripts.js";

/** What the store uses of an ioredis (or iovalkey) `Command`: its own class, extended below. */
interface IoredisCommand {
  name: string;
  /** The arguments as ioredis holds them once the command is made: text, or a Buffer's bytes. */
  args: (string | Buffer)[];
  promise: Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface CommandOptions {
  replyEncoding: null;
  keyPrefix?: string;
  errorStack?: Error;
}

type CommandClass = new (name: string, args: unknown[], options: CommandOptions) => IoredisCommand;

/** What ioredis keeps of a script registered with `defineCommand` (internal, and unchanged since ioredis 4). */
interface DefinedScript {
  /** Its command class, a subclass of the client's own `Command`. */
  Command: CommandClass;
  /** The client's `keyPrefix`, which the command puts in front of its keys. */
  keyPrefix: string;
}

/** The client as this module reaches into it. */
interface ScriptClient {
  scriptsSet: Record<string, DefinedScript>;
  options: { showFriendlyErrorStack?: boolean };
  sendCommand(command: IoredisCommand): Promise<unknown>;
}

/**
 * Sends scripts on an ioredis (or iovalkey) `Redis` or `Cluster` with replies as Buffers, as `defineCommand`'s
 * `<name>Buffer(...)` does, for less work per call. Measured with callgrind over ioredis 6 (instructions per
 * operation, the store alone): `<name>Buffer` spreads and copies the arguments three times, chains a second promise
 * to catch NOSCRIPT, wraps each promise for callbacks nobody passes, and writes a command that carries bytes (a
 * body) piece by piece, two native calls per piece, about 20 pieces for a complete.
 *
 * Here a command is one object of a subclass of the client's own `Command` class (found through the scripts the
 * connection registered, so that ioredis and iovalkey each get theirs), which ioredis queues, times out, redirects
 * (Cluster) and settles as any other. What it writes is built here: the arguments before and after a body as one
 * string each, joined to the body in one Buffer. As ioredis does, a script goes as EVAL the first time on each
 * connection and as EVALSHA after; a command answered NOSCRIPT (the server lost its scripts: SCRIPT FLUSH, a restart
 * behind a proxy that kept the connection) is sent once more, as EVAL, and the first command answers what that one
 * answers.
 */
export function scriptSender(
  client: Redis | Cluster,
): (script: Script, keys: readonly string[], args: readonly ScriptArg[]) => Promise<unknown> {
  const target = client as unknown as ScriptClient;
  const defined = target.scriptsSet;
  const anyScript = Object.values(defined)[0];
  if (!anyScript) throw new Error("no script is registered on the client");
  const Base = Object.getPrototypeOf(anyScript.Command) as CommandClass;
  /** The scripts each connection (socket) has been sent, by SHA-1. */
  const sent = new WeakMap<object, Set<string>>();

  class ScriptCommand extends Base {
    readonly script: Script;
    readonly resent: boolean;
    /** The connection the command was written to. */
    socket: object | undefined;

    constructor(script: Script, argv: unknown[], options: CommandOptions, resent: boolean) {
      super("evalsha", argv, options);
      this.script = script;
      this.resent = resent;
      const reject = this.reject;
      this.reject = (error: Error) => {
        if (!error?.message?.includes("NOSCRIPT")) return reject.call(this, error);
        if (this.socket) sent.get(this.socket)?.delete(script.sha);
        if (resent) return reject.call(this, error);
        target.sendCommand(new ScriptCommand(script, argv, options, true)).then(
          (value) => this.resolve(value),
          (failure: Error) => reject.call(this, failure),
        );
      };
    }

    toWritable(socket: object): string | Buffer {
      this.socket = socket;
      let scripts = sent.get(socket);
      if (!scripts) {
        scripts = new Set();
        sent.set(socket, scripts);
      }
      const { sha, lua } = this.script;
      if (scripts.has(sha)) {
        this.name = "evalsha";
        this.args[0] = sha;
      } else {
        scripts.add(sha);
        this.name = "eval";
        this.args[0] = lua;
      }
      return encode(this.name, this.args);
    }
  }

  const friendlyStacks = target.options.showFriendlyErrorStack === true;
  const optionsOf = new Map<Script, CommandOptions>();
  return (script, keys, args) => {
    let options = optionsOf.get(script);
    if (!options) {
      const { keyPrefix } = defined[script.name]!;
      options = keyPrefix ? { replyEncoding: null, keyPrefix } : { replyEncoding: null };
      optionsOf.set(script, options);
    }
    if (friendlyStacks) options = { ...options, errorStack: new Error() };
    const argv: unknown[] = [script.sha, keys.length];
    for (const key of keys) argv.push(key);
    for (const arg of args) argv.push(toBuffer(arg));
    return target.sendCommand(new ScriptCommand(script, argv, options, false));
  };
}

/**
 * A command in RESP: one string when every argument is text (the socket encodes it as it writes), else one Buffer of
 * the text around each Buffer argument and the Buffers' bytes.
 */
function encode(name: string, args: readonly (string | Buffer)[]): string | Buffer {
  let text = `*${args.length + 1}\r\n$${name.length}\r\n${name}\r\n`;
  let parts: (string | Buffer)[] | undefined;
  for (const arg of args) {
    if (typeof arg === "string") {
      text += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
    } else {
      text += `$${arg.length}\r\n`;
      parts ??= [];
      parts.push(text, arg);
      text = "\r\n";
    }
  }
  if (!parts) return text;
  parts.push(text);
  let size = 0;
  for (const part of parts) size += typeof part === "string" ? Buffer.byteLength(part) : part.length;
  const bytes = Buffer.allocUnsafe(size);
  let at = 0;
  for (const part of parts) at += typeof part === "string" ? bytes.write(part, at) : part.copy(bytes, at);
  return bytes;
}

/** ioredis sends a Buffer's bytes, but would send a plain Uint8Array as its `String()`. */
export function toBuffer(arg: ScriptArg): unknown {
  return arg instanceof Uint8Array && !Buffer.isBuffer(arg)
    ? Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength)
    : arg;
}
