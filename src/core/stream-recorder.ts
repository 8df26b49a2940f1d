import { streamEntryAad } from "./encryption.js";
import { type Attempt, type EngineState, emitFor, timed } from "./engine-state.js";
import type { ResolvedRouteOptions } from "./options.js";
import type { ResponseData } from "./response.js";
import { storableHeaders } from "./response.js";
import type { StreamStore } from "./store.js";
import { CHUNKS_HEADER, chunkEntry, endEntry, headEntry, type StreamEnd } from "./stream-entries.js";

/**
 * What an adapter feeds while a streaming route's handler writes its response (the `stream` of an `execute`
 * decision): the adapter sends every chunk to its client at once, and oncely records it on the side.
 */
export interface StreamCapture {
  /** The handler's status and headers, as they go out, before its first chunk. */
  head(status: number, headers: [string, string][]): void;
  /** One chunk as the handler wrote it (already on its way to the client). */
  write(chunk: Uint8Array): void;
  /**
   * The handler ended its response: records the end and stores the outcome. Await it before ending the response, so
   * that an immediate retry finds the stream completed. Resolves to a response to send instead, as `finish` does.
   */
  end(): Promise<ResponseData | undefined>;
  /** The handler failed: followers see the stream end with an error, and the claim is released. */
  fail(error: unknown): Promise<void>;
}

/** Entries appended in one store call at most, and their bytes: a follower sees a slow producer's chunks one by one. */
const BATCH_ENTRIES = 64;
const BATCH_BYTES = 256 * 1024;

/**
 * Records one streamed response in the store as the handler writes it: a head, the chunks, an end, each appended in
 * order, in batches of what was written while the previous append was on its way (one append at a time). Every
 * append is fenced by the claim's token: once the claim is lost, or an append fails, nothing more is appended (the
 * client still gets every byte). Past `maxResponseBytes` the log gets a `not-kept` end and the outcome is stored as
 * not kept.
 */
export class StreamRecorder implements StreamCapture {
  #status = 0;
  #headers: [string, string][] = [];
  /** The chunks kept for the stored outcome, until the stream grows past `maxResponseBytes`. */
  #kept: Uint8Array[] | undefined = [];
  #size = 0;
  #queue: Uint8Array[] = [];
  /** Entries in the store's log so far: where the next one goes. */
  #appended = 0;
  #appending = true;
  #pumping: Promise<void> | undefined;

  constructor(
    readonly state: EngineState,
    readonly attempt: Attempt,
    readonly token: number,
    readonly options: ResolvedRouteOptions,
    /** The decision's `finish`: stores the outcome (or releases the claim, for a status not stored). */
    readonly finish: (response: {
      status: number;
      headers: [string, string][];
      body: Uint8Array | null;
    }) => Promise<ResponseData | undefined>,
    /** The decision's `abandon`. */
    readonly abandon: (error?: unknown) => Promise<void>,
  ) {}

  head(status: number, headers: [string, string][]): void {
    this.#status = status;
    this.#headers = headers;
    // A status that will not be stored is not followed either: its followers claim again once it is released.
    if (!this.options.storeWhen(status)) {
      this.#kept = undefined;
      this.#stopAppending("failed");
      return;
    }
    this.#enqueue(headEntry(status, storableHeaders(headers, this.options.excludeHeaders)));
  }

  write(chunk: Uint8Array): void {
    if (this.#kept === undefined || chunk.byteLength === 0) return;
    this.#size += chunk.byteLength;
    if (this.#size > this.options.maxResponseBytes) {
      this.#kept = undefined;
      this.#stopAppending("not-kept");
      return;
    }
    // The entry is a copy (the writer may reuse its buffer once the write returns), and the kept chunk is a view of it.
    const entry = chunkEntry(chunk);
    this.#kept.push(entry.subarray(1));
    this.#enqueue(entry);
  }

  async end(): Promise<ResponseData | undefined> {
    this.#stopAppending("complete");
    await this.#drained();
    const kept = this.#kept;
    const headers: [string, string][] = kept
      ? [...this.#headers, [CHUNKS_HEADER, kept.map((chunk) => chunk.byteLength).join(",")]]
      : this.#headers;
    return this.finish({ status: this.#status, headers, body: kept ? concat(kept, this.#size) : null });
  }

  async fail(error: unknown): Promise<void> {
    this.#stopAppending("failed");
    await this.#drained();
    await this.abandon(error);
  }

  /** Appends `end` after what is queued, once, and nothing after it. */
  #stopAppending(end: StreamEnd): void {
    if (!this.#appending) return;
    this.#enqueue(endEntry(end));
    this.#appending = false;
  }

  #enqueue(entry: Uint8Array): void {
    if (!this.#appending) return;
    this.#queue.push(entry);
    this.#pumping ??= this.#pump();
  }

  async #pump(): Promise<void> {
    const { state, attempt, token } = this;
    const store = state.store as StreamStore;
    try {
      while (this.#queue.length > 0) {
        const batch = takeBatch(this.#queue);
        // Encrypted, an append is one entry: the batch sealed, bound to the place it takes in the log.
        const aad = streamEntryAad(attempt.id, token, this.#appended);
        const entries = state.cipher ? [await state.cipher.sealEntries(aad, batch)] : batch;
        const held = await timed(state, attempt, "appendStream", () =>
          store.appendStream(attempt.id, token, entries, this.options.ttl),
        );
        this.#appended += entries.length;
        if (!held) {
          // Fenced: another holder took the record over. Its own `complete` will say so again (`fenced`).
          this.#drop();
          return;
        }
      }
    } catch (error) {
      // Followers read on to the completed record, or see the holder lost when the outcome is not stored either.
      emitFor(state, attempt, "store-error", { reason: "appending to the stream failed; recording stopped", error });
      this.#drop();
    } finally {
      this.#pumping = undefined;
    }
  }

  #drop(): void {
    this.#appending = false;
    this.#queue = [];
  }

  async #drained(): Promise<void> {
    while (this.#pumping) await this.#pumping;
  }
}

/** The first entries of `queue`, up to a batch, taken off it. */
function takeBatch(queue: Uint8Array[]): Uint8Array[] {
  let count = 0;
  let bytes = 0;
  while (
    count < queue.length &&
    count < BATCH_ENTRIES &&
    (count === 0 || bytes + queue[count]!.byteLength <= BATCH_BYTES)
  ) {
    bytes += queue[count]!.byteLength;
    count++;
  }
  return queue.splice(0, count);
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return body;
}
