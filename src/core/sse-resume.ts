/**
 * Resuming a recorded server-sent event stream after the event a client names in `Last-Event-ID`, as an EventSource
 * reconnecting asks. The recorded chunks need not line up with events, so the bytes are scanned as the SSE grammar
 * reads them (lines end in CRLF, LF or CR; a blank line ends an event; `id:` sets its id, one leading space dropped).
 */

const LF = 0x0a;
const CR = 0x0d;
const decoder = new TextDecoder();

/** True for a `text/event-stream` response (any parameters, any case). */
export function isEventStream(headers: readonly [string, string][]): boolean {
  for (const [name, value] of headers) {
    if (name === "content-type") return value.trimStart().toLowerCase().startsWith("text/event-stream");
  }
  return false;
}

/**
 * The chunks from just after the first event whose `id` field is `lastEventId`; nothing when no event has it (the id
 * came from another stream: resending this one from the start would hand the client events it may already have).
 */
export async function* afterEvent(chunks: AsyncIterable<Uint8Array>, lastEventId: string): AsyncGenerator<Uint8Array> {
  const scan = new EventScan(lastEventId);
  for await (const chunk of chunks) {
    if (scan.settled) {
      yield chunk;
      continue;
    }
    const from = scan.feed(chunk);
    if (from < chunk.byteLength) yield chunk.subarray(from);
  }
}

/** Reads SSE lines until the event with the wanted id has ended. */
class EventScan {
  found = false;
  /** The current line's bytes so far (only its start matters: `id:` and the value). */
  #line: number[] = [];
  /** The id field of the event being read, if it had one. */
  #eventId: string | undefined;
  /** The previous byte ended a line with CR: an LF right after it belongs to the same line end. */
  #afterCR = false;

  constructor(readonly wanted: string) {}

  /** Reads `chunk`; returns where the bytes to send start (its length when none of it is to be sent). */
  feed(chunk: Uint8Array): number {
    for (let i = 0; i < chunk.byteLength; i++) {
      const byte = chunk[i]!;
      if (byte === LF && this.#afterCR) {
        this.#afterCR = false;
        if (this.found) return i + 1;
        continue;
      }
      if (this.found) return i;
      this.#afterCR = byte === CR;
      if (byte === CR || byte === LF) this.#endLine();
      else this.#line.push(byte);
    }
    return chunk.byteLength;
  }

  /** Found, and no LF of the blank line's CRLF can still follow: every byte from here on is sent as it is. */
  get settled(): boolean {
    return this.found && !this.#afterCR;
  }

  #endLine(): void {
    const line = this.#line;
    this.#line = [];
    if (line.length === 0) {
      if (this.#eventId === this.wanted) this.found = true;
      this.#eventId = undefined;
      return;
    }
    // "id" then ":" (or the whole line: a field with no value), value after one optional space.
    if (line[0] !== 0x69 || line[1] !== 0x64 || (line.length > 2 && line[2] !== 0x3a)) return;
    const value = line.slice(line[3] === 0x20 ? 4 : 3);
    this.#eventId = decoder.decode(Uint8Array.from(value));
  }
}
