import { StreamResumeError } from "./errors.js";

/**
 * Resuming a streamed answer whose connection dropped mid-body: the call is sent again with the same key, and a
 * server that recorded the stream answers it again (`Idempotent-Replayed: true`), joined while it runs or replayed
 * after. Server-sent events ask for what follows the last event with an id (`Last-Event-ID`); any other stream is
 * answered from its start, and the bytes already delivered are skipped. Either way the caller reads one body, the
 * same bytes as an uninterrupted call.
 */

/** Sends the call again with `headers` added; resolves with the final answer or rejects as the call would. */
export type SendAgain = (headers: Record<string, string>) => Promise<Response>;

/**
 * The body of `response`, resumed up to `resumes` times when its connection drops. The stream errors (with the drop's
 * error as cause) when a retry's answer is not a replay of the same record, or the resumes are spent.
 */
export function resumedBody(
  response: Response,
  sendAgain: SendAgain,
  resumes: number,
  context: { idempotencyKey: string },
): ReadableStream<Uint8Array> {
  const events = isEventStream(response) ? new EventIds() : undefined;
  let reader = response.body!.getReader();
  /** Bytes handed on so far; on a resume, this many (less what Last-Event-ID saves) are skipped. */
  let delivered = 0;
  let skip = 0;
  let attempts = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          let read: ReadableStreamReadResult<Uint8Array>;
          try {
            read = await reader.read();
          } catch (error) {
            if (attempts >= resumes) return controller.error(error);
            attempts++;
            const after = events?.resumable;
            let again: Response;
            try {
              again = await sendAgain(after ? { "last-event-id": after.id } : {});
            } catch (failure) {
              return controller.error(failure);
            }
            if (again.headers.get("idempotent-replayed") !== "true" || again.body === null) {
              again.body?.cancel().catch(() => {});
              const message = "The stream dropped, and its retry was not answered from the same recorded stream";
              return controller.error(new StreamResumeError(message, { ...context, attempts, cause: error }));
            }
            skip = after ? delivered - after.end : delivered;
            reader = again.body.getReader();
            continue;
          }
          if (read.done) return controller.close();
          let chunk = read.value;
          if (skip > 0) {
            const dropped = Math.min(skip, chunk.byteLength);
            skip -= dropped;
            chunk = chunk.subarray(dropped);
            if (chunk.byteLength === 0) continue;
          }
          events?.feed(chunk, delivered);
          delivered += chunk.byteLength;
          controller.enqueue(chunk);
          return;
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    // No queue: what was read is what was delivered, which is what a resume counts.
    { highWaterMark: 0 },
  );
}

function isEventStream(response: Response): boolean {
  return (response.headers.get("content-type") ?? "").trimStart().toLowerCase().startsWith("text/event-stream");
}

/**
 * Follows a server-sent event stream's bytes as the SSE grammar reads them (lines end in CRLF, LF or CR; a blank line
 * ends an event; `id:` sets its id), and keeps the last event with an id and the offset where it ended.
 */
class EventIds {
  /** The last finished event that had an id, and the offset just past it. */
  resumable: { id: string; end: number } | undefined;
  #line: number[] = [];
  #eventId: string | undefined;
  #afterCR = false;

  feed(chunk: Uint8Array, offset: number): void {
    for (let i = 0; i < chunk.byteLength; i++) {
      const byte = chunk[i]!;
      if (byte === 0x0a && this.#afterCR) {
        this.#afterCR = false;
        // The LF of a CRLF that ended an event: the event ends after it.
        if (this.resumable && this.resumable.end === offset + i) this.resumable.end = offset + i + 1;
        continue;
      }
      this.#afterCR = byte === 0x0d;
      if (byte !== 0x0d && byte !== 0x0a) {
        this.#line.push(byte);
        continue;
      }
      const line = this.#line;
      this.#line = [];
      if (line.length === 0) {
        if (this.#eventId !== undefined) this.resumable = { id: this.#eventId, end: offset + i + 1 };
        this.#eventId = undefined;
      } else if (line[0] === 0x69 && line[1] === 0x64 && (line.length === 2 || line[2] === 0x3a)) {
        this.#eventId = new TextDecoder().decode(Uint8Array.from(line.slice(line[3] === 0x20 ? 4 : 3)));
      }
    }
  }
}
