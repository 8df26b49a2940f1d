import { nodeBuiltin } from "../../core/node-builtins.js";

/**
 * Bytes to and from Latin-1 strings (one character per byte), the form a MemoryStore record is kept in: V8 keeps such
 * a string as one object of one byte per character in its own heap, with no backing store outside it, so a record costs
 * the collector one leaf object and its memory leaves with it. Node's own copies where the runtime has them (one
 * `memcpy` each); plain loops elsewhere (browsers, edge runtimes), where the store must work but is rarely large.
 */
interface NodeBufferMethods {
  latin1Slice(this: Uint8Array, start: number, end: number): string;
  latin1Write(this: Uint8Array, text: string, offset: number, length: number): number;
  utf8Write(this: Uint8Array, text: string, offset: number, length: number): number;
}

// Node's methods take any Uint8Array as `this`, so the store's arrays need not be Buffers.
const node = nodeBuiltin("node:buffer")?.Buffer.prototype as NodeBufferMethods | undefined;
const encoder = new TextEncoder();

/** The bytes `[start, end)` of `bytes` as a Latin-1 string. */
export const latin1Slice: (bytes: Uint8Array, start: number, end: number) => string = node
  ? (bytes, start, end) => node.latin1Slice.call(bytes, start, end)
  : (bytes, start, end) => {
      let text = "";
      for (let at = start; at < end; at += 4096) {
        text += String.fromCharCode(...bytes.subarray(at, Math.min(end, at + 4096)));
      }
      return text;
    };

/** Writes the Latin-1 string `text` (every character below 256) into `bytes` at `offset`, as much as fits. */
export const latin1Write: (bytes: Uint8Array, text: string, offset: number) => void = node
  ? (bytes, text, offset) => {
      node.latin1Write.call(bytes, text, offset, bytes.length - offset);
    }
  : (bytes, text, offset) => {
      const end = Math.min(text.length, bytes.length - offset);
      for (let i = 0; i < end; i++) bytes[offset + i] = text.charCodeAt(i);
    };

/** Writes `text` as UTF-8 into `bytes` at `offset` (room for `text.length * 3` bytes assumed); returns the bytes written. */
export const utf8Write: (bytes: Uint8Array, text: string, offset: number) => number = node
  ? (bytes, text, offset) => node.utf8Write.call(bytes, text, offset, bytes.length - offset)
  : (bytes, text, offset) => encoder.encodeInto(text, bytes.subarray(offset)).written;

/** Bodies up to this size are cut from a shared slab; larger ones get an array of their own. */
const SLAB_CUT = 4096;
const SLAB_BYTES = 64 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

/**
 * A new byte array holding the characters of `record` from `start` to `end` (the caller owns it). A small one is cut
 * from a shared slab, as Node's `Buffer.from` does with its pool: a replayed body is short-lived, and an array of its
 * own would cost an allocation outside the heap, and its cleanup, on every replay.
 */
export function latin1Bytes(record: string, start: number, end: number): Uint8Array {
  const length = end - start;
  let bytes: Uint8Array;
  if (length > SLAB_CUT) bytes = new Uint8Array(length);
  else {
    if (slabUsed + length > SLAB_BYTES) {
      slab = new Uint8Array(SLAB_BYTES);
      slabUsed = 0;
    }
    bytes = slab.subarray(slabUsed, slabUsed + length);
    // Keeps every cut 8-byte aligned, as Node's pool does.
    slabUsed = (slabUsed + length + 7) & ~7;
  }
  if (length > 0) latin1Write(bytes, record.slice(start, end), 0);
  return bytes;
}
