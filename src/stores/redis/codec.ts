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
    state: textOf(state) as RecordState,
    fingerprint: textOf(fingerprint),
    token: numberOf(token),
    createdAt: numberOf(createdAt),
    leaseUntil: numberOf(leaseUntil),
    expiresAt: numberOf(expiresAt),
    meta: JSON.parse(textOf(meta)),
    version: numberOf(version),
    replays: numberOf(replays),
  };
  if (runId) record.runId = textOf(runId);
  if (runId || steps.length > 0) record.steps = stepsOf(toHash(steps));
  if (work) record.work = JSON.parse(textOf(work));
  if (completedAt) record.completedAt = numberOf(completedAt);
  if (status) {
    const stored = JSON.parse(textOf(headers)) as [string, string][];
    record.response = {
      status: numberOf(status),
      headers: stored,
      body: bodyOf(body, encoding),
      kept: textOf(kept) === "1",
    };
  }
  return record;
}

/**
 * A reply value's text. `String()` of a Buffer goes through `ToPrimitive` (a `Symbol.toPrimitive` lookup, `valueOf`)
 * before its `toString`, a native UTF-8 decode; `toString()` is called directly here. A short ASCII field (a state,
 * a flag) is cheaper still as char codes: `fromCharCode.apply` reads a typed array element by element, about 50
 * instructions a byte (callgrind), where the native decode costs about a thousand whatever the length.
 */
export function textOf(value: ReplyValue): string {
  if (value instanceof Uint8Array) {
    if (value.length > MAX_CHAR_CODES) return value.toString();
    for (let i = 0; i < value.length; i++) if (value[i]! > 0x7f) return value.toString();
    return String.fromCharCode.apply(null, value as unknown as number[]);
  }
  return value === null || value === undefined ? "" : String(value);
}

/** The longest field read as char codes (see `textOf`). */
const MAX_CHAR_CODES = 16;

/**
 * A numeric field's value, 0 when absent (a record an earlier oncely wrote may lack one). Stored numbers are
 * non-negative integers, read here digit by digit; anything else (a sign, an exponent, 16 digits or more) by `Number`.
 */
export function numberOf(value: ReplyValue): number {
  if (typeof value === "number") return value;
  if (value === null || value === undefined) return 0;
  if (!(value instanceof Uint8Array) || value.length > 15) return Number(textOf(value));
  let number = 0;
  for (let i = 0; i < value.length; i++) {
    const digit = value[i]! - 48;
    if (digit < 0 || digit > 9) return Number(textOf(value));
    number = number * 10 + digit;
  }
  return number;
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
