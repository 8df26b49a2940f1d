// Loaded by encoding.ts when a stored body must be decoded for a client that does not accept its coding: rare, so
// the core bundle does not carry it.
import { nodeBuiltin } from "./node-builtins.js";

type Decoder = (body: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/** Node's zlib where the runtime has it; else the web's DecompressionStream, which has no brotli. */
export const DECODERS: Record<string, Decoder> = (() => {
  const zlib = nodeBuiltin("node:zlib");
  if (zlib) {
    return {
      gzip: zlib.gunzipSync,
      "x-gzip": zlib.gunzipSync,
      deflate: zlib.inflateSync,
      br: zlib.brotliDecompressSync,
    };
  }
  return webDecoders();
})();

/** Decoders on the web's DecompressionStream (gzip and deflate; no brotli), for runtimes without node:zlib. */
export function webDecoders(): Record<string, Decoder> {
  if (typeof DecompressionStream !== "function") return {};
  const stream =
    (format: "gzip" | "deflate"): Decoder =>
    (body) =>
      new Response(new Blob([body as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream(format)))
        .arrayBuffer()
        .then((buffer) => new Uint8Array(buffer));
  return { gzip: stream("gzip"), "x-gzip": stream("gzip"), deflate: stream("deflate") };
}
