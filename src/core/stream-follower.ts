import { streamEntryAad } from "./encryption.js";
import { type Attempt, type EngineState, emitFor, timed } from "./engine-state.js";
import { StreamInterruptedError, type StreamInterruption } from "./errors.js";
import type { ResolvedRouteOptions } from "./options.js";
import type { StreamedResponse } from "./response.js";
import { afterEvent, isEventStream } from "./sse-resume.js";
import type { StoredResponse, StreamRead, StreamStore } from "./store.js";
import { CHUNKS_HEADER, parseEntry } from "./stream-entries.js";

/**
 * The reading side of a recorded stream: a retry that follows a run in flight (`joinStream`), or replays a completed
 * one chunk by chunk (`replayedStream`). The writing side is `stream-recorder.ts`.
 */

/** The longest one read of a follower waits for an append before it looks at the run's lease again, ms. */
const MAX_READ_WAIT = 1_000;

const encoder = new TextEncoder();

/** The chunks of a stored streamed response, or `undefined` for a response that was not streamed. */
export function storedChunks(response: StoredResponse): Uint8Array[] | undefined {
  const lengths = response.headers.find(([name]) => name === CHUNKS_HEADER)?.[1];
  if (lengths === undefined) return undefined;
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const length of lengths === "" ? [] : lengths.split(",")) {
    chunks.push(response.body.subarray(at, at + Number(length)));
    at += Number(length);
  }
  return chunks;
}

/** A completed stream's replay: its chunks as written, after `lastEventId`'s event for server-sent events. */
export function replayedStream(stored: StoredResponse, chunks: Uint8Array[], lastEventId?: string): StreamedResponse {
  const headers = stored.headers.filter(([name]) => name !== CHUNKS_HEADER);
  return streamed(stored.status, headers, fromArray(chunks), lastEventId);
}

/** What joining a run came to: its stream to follow, or none (the run ended before answering, or never answered). */
export type Joined = { kind: "follow"; response: StreamedResponse } | { kind: "claim-again" } | { kind: "timeout" };

/**
 * Follows the stream of the run `token` holds: waits (up to `waitTimeout` from the request's start) for its head,
 * then answers with every chunk so far and the rest as the holder writes them. A run that ends before its head (its
 * handler failed, its holder died) is `claim-again`: the record is claimable, or soon will be.
 */
export async function joinStream(
  state: EngineState,
  options: ResolvedRouteOptions,
  attempt: Attempt,
  token: number,
  lastEventId?: string,
): Promise<Joined> {
  const store = state.store as StreamStore;
  const deadline = attempt.started + options.waitTimeout;
  const wait = Math.max(1, Math.min(MAX_READ_WAIT, Math.floor(options.lease / 2)));
  const read = async (from: number): Promise<LogRead> => {
    const found = await timed(
      state,
      attempt,
      "readStream",
      () => store.readStream(attempt.id, token, from, wait),
      wait,
    );
    return { ...found, read: found.entries.length, entries: await opened(state, attempt.id, token, from, found) };
  };
  let first: LogRead;
  for (;;) {
    first = await read(0);
    if (first.entries.length > 0) break;
    if (first.state !== "held") return { kind: "claim-again" };
    if (performance.now() >= deadline) return { kind: "timeout" };
  }
  const head = parseEntry(first.entries[0]!);
  if (head.kind !== "head") return { kind: "claim-again" };
  if (first.entries.some(failedEnd)) {
    // The run failed before this retry could follow it, and its holder releases the key next: this retry is the
    // next one, which runs the handler again, not a follower of the failed run.
    for (let position = first.read, result = first; result.state === "held"; position += result.read) {
      if (performance.now() >= deadline) return { kind: "timeout" };
      result = await read(position);
    }
    return { kind: "claim-again" };
  }
  emitFor(state, attempt, "replayed", { status: head.status, token, reason: "joined a stream in flight" });
  const follower = new Follower(state, attempt, token, read);
  const chunks = follower.chunks(first.entries.slice(1), first.read);
  return { kind: "follow", response: streamed(head.status, head.headers, chunks, lastEventId) };
}

function failedEnd(entry: Uint8Array): boolean {
  const parsed = parseEntry(entry);
  return parsed.kind === "end" && parsed.end === "failed";
}

/** A read of the run's log: its entries (opened, when encrypted), and how many of the store's entries it took. */
interface LogRead extends StreamRead {
  read: number;
}

/**
 * The engine's entries in what the store answered: as they are, or, with `encryption`, each stored entry opened into
 * the batch it sealed (bound to its place in the log, as the recorder sealed it).
 */
async function opened(state: EngineState, id: string, token: number, from: number, found: StreamRead) {
  const { cipher } = state;
  if (!cipher) return found.entries;
  const batches = found.entries.map((sealed, i) => cipher.openEntries(streamEntryAad(id, token, from + i), sealed));
  return (await Promise.all(batches)).flat();
}

/** Reads one run's entries after its head, to its end. */
class Follower {
  /** Chunks handed on so far: where a fall back on the completed record picks up. */
  #delivered = 0;

  constructor(
    readonly state: EngineState,
    readonly attempt: Attempt,
    readonly token: number,
    readonly read: (from: number) => Promise<LogRead>,
  ) {}

  async *chunks(entries: Uint8Array[], position: number): AsyncGenerator<Uint8Array> {
    for (;;) {
      for (const raw of entries) {
        const entry = parseEntry(raw);
        if (entry.kind === "chunk") {
          this.#delivered++;
          yield entry.bytes;
        } else if (entry.kind === "end") {
          if (entry.end === "complete") return;
          throw interrupted(entry.end === "not-kept" ? "response_not_kept" : "handler_failed", this.attempt);
        }
      }
      let result: LogRead;
      try {
        result = await this.read(position);
      } catch (error) {
        throw interrupted("holder_lost", this.attempt, error);
      }
      position += result.read;
      entries = result.entries;
      if (entries.length > 0 || result.state === "held") continue;
      if (result.state === "completed") {
        // Completed without an end in its log (an append failed; the holder stored its outcome anyway): the rest
        // comes from the stored response.
        yield* await this.#restFromRecord();
        return;
      }
      throw interrupted("holder_lost", this.attempt);
    }
  }

  async #restFromRecord(): Promise<Uint8Array[]> {
    const { state, attempt } = this;
    const record = await timed(state, attempt, "get", () => state.store.get(attempt.id));
    const stored = record?.token === this.token && record.response?.kept ? record.response : undefined;
    const response = stored && state.cipher ? await state.cipher.open(attempt.id, stored) : stored;
    const chunks = response ? storedChunks(response) : undefined;
    if (chunks === undefined) throw interrupted("response_not_kept", attempt);
    return chunks.slice(this.#delivered);
  }
}

function interrupted(reason: StreamInterruption, attempt: Attempt, cause?: unknown): StreamInterruptedError {
  const messages: Record<StreamInterruption, string> = {
    holder_lost:
      "The request running this stream stopped (its server died or it lost its claim); retry to run it again",
    handler_failed: "The handler running this stream failed; retry to run it again",
    response_not_kept: "The stream grew past maxResponseBytes and was not recorded further",
  };
  return new StreamInterruptedError(reason, messages[reason], { key: attempt.key, route: attempt.route, cause });
}

/** The response a follower or a replay sends: marked as a replay, resumed after `lastEventId` for SSE. */
function streamed(
  status: number,
  headers: [string, string][],
  chunks: AsyncIterable<Uint8Array>,
  lastEventId: string | undefined,
): StreamedResponse {
  const replayed: [string, string][] = [...headers, ["idempotent-replayed", "true"]];
  if (!isEventStream(headers)) return { status, headers: replayed, chunks };
  return { status, headers: replayed, chunks: eventStream(chunks, lastEventId) };
}

/** A server-sent event stream: resumed after `lastEventId`, and ended by an `oncely-error` event when interrupted. */
async function* eventStream(chunks: AsyncIterable<Uint8Array>, lastEventId: string | undefined) {
  try {
    yield* lastEventId === undefined ? chunks : afterEvent(chunks, lastEventId);
  } catch (error) {
    if (!(error instanceof StreamInterruptedError)) throw error;
    const event = JSON.stringify({ type: error.type, code: error.code, reason: error.reason, detail: error.detail });
    // Led by a blank line, so it is an event of its own even after an unfinished one (after a finished one the extra
    // blank line dispatches nothing).
    yield encoder.encode(`\n\nevent: oncely-error\ndata: ${event}\n\n`);
  }
}

async function* fromArray(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
}
