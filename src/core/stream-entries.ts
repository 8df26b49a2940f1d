/**
 * How the engine frames a streamed response in a store's stream log (`StreamStore.appendStream`): the store keeps
 * opaque entries in order; the first byte of each says what it is. A run's log is one head (status and headers), its
 * chunks as the handler wrote them, then at most one end.
 */

/**
 * The stored header that keeps a completed stream's chunk boundaries (their lengths, comma-separated), so a replay
 * writes the chunks as the handler did. It is never sent.
 */
export const CHUNKS_HEADER = "oncely-stream-chunks";

/** How a recorded stream ended: whole, its handler failed (or answered a status not stored), or past `maxResponseBytes`. */
export type StreamEnd = "complete" | "failed" | "not-kept";

/** One entry as the engine reads it back. */
export type StreamEntry =
  | { kind: "head"; status: number; headers: [string, string][] }
  | { kind: "chunk"; bytes: Uint8Array }
  | { kind: "end"; end: StreamEnd };

const HEAD = 0x48; // "H"
const CHUNK = 0x43; // "C"
const END = 0x45; // "E"
const ENDS: readonly StreamEnd[] = ["complete", "failed", "not-kept"];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The head entry: the status and the headers a follower answers with. */
export function headEntry(status: number, headers: [string, string][]): Uint8Array {
  return framed(HEAD, encoder.encode(JSON.stringify([status, headers])));
}

/** A chunk entry: the bytes as the handler wrote them, one write each. */
export function chunkEntry(bytes: Uint8Array): Uint8Array {
  return framed(CHUNK, bytes);
}

/** The end entry: no entry of the run follows it. */
export function endEntry(end: StreamEnd): Uint8Array {
  return framed(END, encoder.encode(end));
}

/** Reads an entry back; throws on bytes the engine never wrote (a store that corrupted its log). */
export function parseEntry(entry: Uint8Array): StreamEntry {
  const payload = entry.subarray(1);
  switch (entry[0]) {
    case CHUNK:
      return { kind: "chunk", bytes: payload };
    case HEAD: {
      const [status, headers] = JSON.parse(decoder.decode(payload)) as [number, [string, string][]];
      return { kind: "head", status, headers };
    }
    case END: {
      const end = decoder.decode(payload) as StreamEnd;
      if (ENDS.includes(end)) return { kind: "end", end };
    }
  }
  throw new Error(`A stream entry the engine did not write (first byte ${entry[0]})`);
}

function framed(kind: number, payload: Uint8Array): Uint8Array {
  const entry = new Uint8Array(payload.byteLength + 1);
  entry[0] = kind;
  entry.set(payload, 1);
  return entry;
}
