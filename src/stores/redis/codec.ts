import type { IdempotencyRecord, RecordState, StepRecord } from "../../core/store.js";
import { fromBase64 } from "../shared/base64.js";

/**
 * One value of a script's reply: a Buffer from a client that carries bytes (ioredis, iovalkey, node-redis, asked for
 * buffers), a string from Upstash's REST API, an integer, or nil. `String()` reads the first two alike (a Buffer's
 * `toString` is its UTF-8 text).
 */
export type ReplyValue = Uint8Array | string | number | null | undefined;

/**
 * Turns a script's reply for a record (`RECORD_FIELDS` of scripts.ts, then step fields and values) into a record. A
 * body stored as base64 (by the Upstash store) is decoded; one stored raw arrives as the bytes a TCP client read, or
 * as the text Upstash's REST API made of them.
 */
export function toRecord(id: string, reply: readonly ReplyValue[]): IdempotencyRecord {
  // In `RECORD_FIELDS` order; step_count is only the script's to read.
  const [state, fingerprint, token, createdAt, leaseUntil, expiresAt, meta, version, replays, runId, work, ...rest] =
    reply;
  const [completedAt, status, headers, body, kept, encoding, , ...steps] = rest;
  const record: IdempotencyRecord = {
    id,
    state: ascii(state) as RecordState,
    fingerprint: String(fingerprint),
    token: numberOf(token),
    createdAt: numberOf(createdAt),
    leaseUntil: numberOf(leaseUntil),
    expiresAt: numberOf(expiresAt),
    meta: JSON.parse(String(meta)),
    version: numberOf(version),
    replays: numberOf(replays),
  };
  if (runId) record.runId = String(runId);
  if (runId || steps.length > 0) record.steps = stepsOf(toHash(steps));
  if (work) record.work = JSON.parse(String(work));
  if (completedAt) record.completedAt = numberOf(completedAt);
  if (status) {
    const stored = JSON.parse(String(headers)) as [string, string][];
    record.response = {
      status: numberOf(status),
      headers: stored,
      body: bodyOf(body, encoding),
      kept: ascii(kept) === "1",
    };
  }
  return record;
}

/**
 * The text of a field that is ASCII (a state, a number, a flag). `Number()` or `String()` of a Buffer converts it
 * through `valueOf` and `toString()` on a generic path; these few bytes are cheaper read as char codes.
 */
function ascii(value: ReplyValue): string {
  if (value instanceof Uint8Array) return String.fromCharCode.apply(null, value as unknown as number[]);
  return value === null || value === undefined ? "" : String(value);
}

/** A numeric field's value, 0 when absent (a record an earlier oncely wrote may lack one). */
function numberOf(value: ReplyValue): number {
  return typeof value === "number" ? value : value === null || value === undefined ? 0 : Number(ascii(value));
}

function bodyOf(body: ReplyValue, encoding: ReplyValue): Uint8Array {
  if (body === null || body === undefined) return new Uint8Array(0);
  if (encoding && String(encoding) === "base64") return fromBase64(String(body));
  // Reply Buffers are slices the client never writes to again (ioredis 5 and 6, node-redis): no copy needed.
  if (body instanceof Uint8Array) return body;
  return new TextEncoder().encode(String(body));
}

/** The field value of a step: "<state>:<seq>", and ":<value>" when it has one. */
export function stepField(step: StepRecord): string {
  const head = `${step.state}:${step.seq}`;
  return step.value === undefined ? head : `${head}:${step.value}`;
}

/** The steps among a hash's fields, in `seq` order. */
export function stepsOf(hash: Map<string, ReplyValue>): StepRecord[] {
  const steps: StepRecord[] = [];
  for (const [field, value] of hash) {
    if (!field.startsWith("step:")) continue;
    const text = String(value);
    const first = text.indexOf(":");
    const second = text.indexOf(":", first + 1);
    const step: StepRecord = {
      name: field.slice(5),
      seq: Number(text.slice(first + 1, second === -1 ? undefined : second)),
      state: text.slice(0, first) as StepRecord["state"],
    };
    if (second !== -1) step.value = text.slice(second + 1);
    steps.push(step);
  }
  return steps.sort((a, b) => a.seq - b.seq);
}

/** The pairs (field, value, ...) of a flat reply as a map. */
export function toHash(reply: readonly ReplyValue[]): Map<string, ReplyValue> {
  const hash = new Map<string, ReplyValue>();
  for (let i = 0; i + 1 < reply.length; i += 2) hash.set(String(reply[i]), reply[i + 1]);
  return hash;
}
