import type { FoundRecord } from "../../core/claim-now.js";
import {
  type IdempotencyRecord,
  RECORD_FORMAT_VERSION,
  type RecordMeta,
  type RecordState,
  type StepRecord,
  type StoredResponse,
  type StoredWork,
} from "../../core/store.js";
import { latin1Bytes, latin1Slice, latin1Write, utf8Write } from "./latin1.js";

/**
 * A MemoryStore record as one Latin-1 string (one character per byte): a fixed header of numbers the store reads and
 * rewrites, then the fingerprint, run id, metadata, work, steps and, once completed, the response with its body. One
 * string per record is one object for the garbage collector, with no pointers inside and nothing outside V8's heap,
 * so a full store costs little to collect and its memory follows the heap.
 *
 * Header, little-endian: state (u8), flags (u8), status (u16), where the response starts (u32, once completed: a
 * replay reads it without reading past the sections before it), then float64s: token, createdAt,
 * leaseUntil, expiresAt, completedAt (NaN: none), queued (see ExpiryQueue), replays (NaN: never counted).
 * A text is a u32 (length * 2, plus 1 when ASCII) and its characters: one byte each when ASCII, else UTF-16 code
 * units (exact for any string); an absent optional text is the u32 0xffffffff.
 */

/** The record fields the store keeps: the contract's record without its id (the map's key), plus `queued`. */
export interface RecordFields {
  state: RecordState;
  fingerprint: string;
  token: number;
  createdAt: number;
  leaseUntil: number;
  expiresAt: number;
  completedAt?: number;
  queued: number;
  replays?: number;
  runId?: string;
  meta: RecordMeta;
  work?: StoredWork;
  steps: StepRecord[];
  response?: StoredResponse;
}

/** The header numbers, by offset: what claim, renew, complete and the sweep read and change. */
export const TOKEN = 8;
export const CREATED_AT = 16;
export const LEASE_UNTIL = 24;
export const EXPIRES_AT = 32;
const COMPLETED_AT = 40;
export const QUEUED = 48;
export const REPLAYS = 56;
const HEADER_BYTES = 64;

const STATE = 0;
const FLAGS = 1;
const STATUS = 2;
const RESPONSE_AT = 4;
const STATES: readonly RecordState[] = ["in-flight", "released", "completed"];
const STATE_CODE: Record<RecordState, number> = { "in-flight": 0, released: 1, completed: 2 };
const STEP_STATES: readonly StepRecord["state"][] = ["started", "done", "failed"];
const STEP_STATE_CODE: Record<StepRecord["state"], number> = { started: 0, done: 1, failed: 2 };

const HAS_RUN_ID = 1;
const HAS_WORK = 2;
const HAS_RESPONSE = 4;
const KEPT = 8;

const ABSENT = 0xffffffff;

// One scratch area for every record written: the store is synchronous between awaits, so records never interleave.
let bytes = new Uint8Array(64 * 1024);
let view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
let at = 0;
const number = new DataView(new ArrayBuffer(8));
/** The header of the record being decoded, copied out at once: one native copy reads faster than 56 characters. */
const headerBytes = new Uint8Array(HEADER_BYTES);
const header = new DataView(headerBytes.buffer);

/** The record's state, read from its header. */
export function stateOf(record: string): RecordState {
  return STATES[record.charCodeAt(STATE)]!;
}

/** The stored response's status, read from the header. */
function statusOf(record: string): number {
  return record.charCodeAt(STATUS) | (record.charCodeAt(STATUS + 1) << 8);
}

/** A float64 of the header (`TOKEN`, `EXPIRES_AT`, ...). */
export function numberAt(record: string, offset: number): number {
  for (let i = 0; i < 8; i++) number.setUint8(i, record.charCodeAt(offset + i));
  return number.getFloat64(0, true);
}

/** Encodes a whole record. */
export function encodeRecord(fields: RecordFields): string {
  at = HEADER_BYTES;
  room(HEADER_BYTES);
  let flags = 0;
  writeText(fields.fingerprint);
  if (fields.runId !== undefined) {
    flags |= HAS_RUN_ID;
    writeText(fields.runId);
  }
  writeText(fields.meta.key);
  writeText(fields.meta.scope);
  writeText(fields.meta.method);
  writeText(fields.meta.path);
  if (fields.work) {
    flags |= HAS_WORK;
    writeText(fields.work.name);
    writeText(fields.work.input);
  }
  writeU32(fields.steps.length);
  for (const step of fields.steps) {
    writeText(step.name);
    room(9);
    view.setFloat64(at, step.seq, true);
    view.setUint8(at + 8, STEP_STATE_CODE[step.state]);
    at += 9;
    writeText(step.value);
  }
  view.setUint8(STATE, STATE_CODE[fields.state]);
  view.setUint8(FLAGS, flags);
  view.setUint16(STATUS, 0, true);
  view.setUint32(RESPONSE_AT, 0, true);
  view.setFloat64(TOKEN, fields.token, true);
  view.setFloat64(CREATED_AT, fields.createdAt, true);
  view.setFloat64(LEASE_UNTIL, fields.leaseUntil, true);
  view.setFloat64(EXPIRES_AT, fields.expiresAt, true);
  view.setFloat64(COMPLETED_AT, fields.completedAt ?? Number.NaN, true);
  view.setFloat64(QUEUED, fields.queued, true);
  view.setFloat64(REPLAYS, fields.replays ?? Number.NaN, true);
  if (fields.response) writeResponse(fields.response);
  return latin1Slice(bytes, 0, at);
}

/** The record with header numbers changed (`[offset, value]` pairs) and, optionally, a new state. */
export function withNumbers(record: string, state: RecordState | undefined, ...changes: number[]): string {
  load(record);
  if (state !== undefined) view.setUint8(STATE, STATE_CODE[state]);
  for (let i = 0; i < changes.length; i += 2) view.setFloat64(changes[i]!, changes[i + 1]!, true);
  return latin1Slice(bytes, 0, at);
}

/**
 * The in-flight `record` completed with `response` at `now`, kept until `expiresAt`. Its sections stay as they are;
 * the response is appended after them.
 */
export function withResponse(record: string, response: StoredResponse, now: number, expiresAt: number): string {
  load(record);
  view.setUint8(STATE, STATE_CODE.completed);
  view.setFloat64(LEASE_UNTIL, 0, true);
  view.setFloat64(COMPLETED_AT, now, true);
  view.setFloat64(EXPIRES_AT, expiresAt, true);
  writeResponse(response);
  return latin1Slice(bytes, 0, at);
}

/**
 * The whole record for a caller. `fingerprint`, when given, is a string the caller knows to equal the stored one
 * (see `fingerprintMatches`), and is used as it is instead of being spelled again.
 */
export function decodeRecord(id: string, record: string, fingerprint?: string): IdempotencyRecord {
  const reader = new Reader(record, HEADER_BYTES);
  const flags = record.charCodeAt(FLAGS);
  const storedFingerprint = reader.fingerprint(fingerprint);
  const runId = flags & HAS_RUN_ID ? reader.text() : undefined;
  const meta = reader.meta();
  const work = flags & HAS_WORK ? reader.work() : undefined;
  const steps = reader.steps();
  latin1Write(headerBytes, record, 0);
  const decoded: IdempotencyRecord = {
    id,
    state: stateOf(record),
    fingerprint: storedFingerprint,
    token: header.getFloat64(TOKEN, true),
    createdAt: header.getFloat64(CREATED_AT, true),
    leaseUntil: header.getFloat64(LEASE_UNTIL, true),
    expiresAt: header.getFloat64(EXPIRES_AT, true),
    meta,
    steps,
    version: RECORD_FORMAT_VERSION,
  };
  if (runId !== undefined) decoded.runId = runId;
  if (work) decoded.work = work;
  const completedAt = header.getFloat64(COMPLETED_AT, true);
  if (!Number.isNaN(completedAt)) decoded.completedAt = completedAt;
  if (flags & HAS_RESPONSE) {
    decoded.response = reader.response(statusOf(record), (flags & KEPT) !== 0);
  }
  const replays = header.getFloat64(REPLAYS, true);
  if (!Number.isNaN(replays)) decoded.replays = replays;
  return decoded;
}

/**
 * What a claim that found `record` answers the engine with (`FoundRecord`): its token, expiry and response, read
 * where the header says the response starts; its fingerprint is `fingerprint` when they match, as a replay's does.
 */
export function foundOf(record: string, fingerprint: string): FoundRecord {
  const reader = new Reader(record, HEADER_BYTES);
  const found: FoundRecord = {
    fingerprint: fingerprintMatches(record, fingerprint) ? fingerprint : reader.text()!,
    token: numberAt(record, TOKEN),
    expiresAt: numberAt(record, EXPIRES_AT),
  };
  const flags = record.charCodeAt(FLAGS);
  if (flags & HAS_RESPONSE) {
    reader.at = RESPONSE_AT;
    reader.at = reader.u32();
    found.response = reader.response(statusOf(record), (flags & KEPT) !== 0);
  }
  return found;
}

/** The record's fields, for a change that rewrites it whole (a step saved). */
export function decodeFields(record: string): RecordFields {
  const { id: _, version: __, ...fields } = decodeRecord("", record);
  return { ...fields, steps: fields.steps ?? [], queued: numberAt(record, QUEUED) };
}

/** True when `fingerprint` is the one stored in `record`. */
export function fingerprintMatches(record: string, fingerprint: string): boolean {
  // The stored text's header (its length, ASCII) matches, then its characters, compared in place without a copy.
  const reader = new Reader(record, HEADER_BYTES);
  const header = reader.u32();
  if (header % 2 === 1) {
    return header === fingerprint.length * 2 + 1 && record.startsWith(fingerprint, HEADER_BYTES + 4);
  }
  reader.at = HEADER_BYTES;
  return reader.text() === fingerprint;
}

/** The scope hash stored in the record's metadata. */
export function scopeOf(record: string): string | undefined {
  const reader = new Reader(record, HEADER_BYTES);
  const flags = record.charCodeAt(FLAGS);
  reader.skip();
  if (flags & HAS_RUN_ID) reader.skip();
  reader.skip();
  return reader.text();
}

/** The run's steps, in order. */
export function stepsOf(record: string): StepRecord[] {
  const reader = new Reader(record, HEADER_BYTES);
  const flags = record.charCodeAt(FLAGS);
  reader.skip();
  if (flags & HAS_RUN_ID) reader.skip();
  reader.meta();
  if (flags & HAS_WORK) reader.work();
  return reader.steps();
}

/** The run id stored in the record. */
export function runIdOf(record: string): string | undefined {
  const flags = record.charCodeAt(FLAGS);
  if (!(flags & HAS_RUN_ID)) return undefined;
  const reader = new Reader(record, HEADER_BYTES);
  reader.skip();
  return reader.text();
}

/** Reads the sections of one record in order. */
class Reader {
  constructor(
    readonly record: string,
    public at: number,
  ) {}

  /** The stored fingerprint, or `known` (equal to it) without spelling it again. */
  fingerprint(known: string | undefined): string {
    if (known === undefined) return this.text()!;
    this.skip();
    return known;
  }

  skip(): void {
    const header = this.u32();
    if (header !== ABSENT) this.at += header % 2 === 1 ? Math.floor(header / 2) : header;
  }

  meta(): RecordMeta {
    const meta: RecordMeta = { key: this.text()! };
    const scope = this.text();
    const method = this.text();
    const path = this.text();
    if (scope !== undefined) meta.scope = scope;
    if (method !== undefined) meta.method = method;
    if (path !== undefined) meta.path = path;
    return meta;
  }

  work(): StoredWork {
    const name = this.text()!;
    return { name, input: this.text()! };
  }

  steps(): StepRecord[] {
    const steps: StepRecord[] = [];
    for (let count = this.u32(); count > 0; count--) {
      const name = this.text()!;
      const seq = numberAt(this.record, this.at);
      const state = STEP_STATES[this.record.charCodeAt(this.at + 8)]!;
      this.at += 9;
      const value = this.text();
      steps.push(value === undefined ? { name, seq, state } : { name, seq, state, value });
    }
    return steps;
  }

  response(status: number, kept: boolean): StoredResponse {
    const headers: [string, string][] = [];
    for (let count = this.u32(); count > 0; count--) headers.push([this.text()!, this.text()!]);
    const length = this.u32();
    const body = latin1Bytes(this.record, this.at, this.at + length);
    this.at += length;
    return { status, headers, body, kept };
  }

  u32(): number {
    const { record, at } = this;
    this.at += 4;
    return (
      (record.charCodeAt(at) |
        (record.charCodeAt(at + 1) << 8) |
        (record.charCodeAt(at + 2) << 16) |
        (record.charCodeAt(at + 3) << 24)) >>>
      0
    );
  }

  text(): string | undefined {
    const header = this.u32();
    if (header === ABSENT) return undefined;
    const length = Math.floor(header / 2);
    const start = this.at;
    if (header % 2 === 1) {
      this.at += length;
      return this.record.slice(start, start + length);
    }
    this.at += length * 2;
    let text = "";
    for (let i = start; i < this.at; i += 2) {
      text += String.fromCharCode(this.record.charCodeAt(i) | (this.record.charCodeAt(i + 1) << 8));
    }
    return text;
  }
}

function writeResponse(response: StoredResponse): void {
  let flags = view.getUint8(FLAGS) | HAS_RESPONSE;
  if (response.kept) flags |= KEPT;
  view.setUint8(FLAGS, flags);
  view.setUint16(STATUS, response.status, true);
  view.setUint32(RESPONSE_AT, at, true);
  writeU32(response.headers.length);
  for (const [name, value] of response.headers) {
    writeText(name);
    writeText(value);
  }
  const body = response.body;
  writeU32(body.byteLength);
  room(body.byteLength);
  bytes.set(body, at);
  at += body.byteLength;
}

/** Copies `record` into the scratch area, ready for changes, with `at` at its end. */
function load(record: string): void {
  at = 0;
  room(record.length);
  latin1Write(bytes, record, 0);
  at = record.length;
}

function writeU32(value: number): void {
  room(4);
  view.setUint32(at, value, true);
  at += 4;
}

function writeText(text: string | undefined): void {
  if (text === undefined) {
    writeU32(ABSENT);
    return;
  }
  room(4 + text.length * 3);
  const written = utf8Write(bytes, text, at + 4);
  if (written === text.length) {
    // UTF-8 of the same length as the string: every character is ASCII, one byte each.
    view.setUint32(at, text.length * 2 + 1, true);
    at += 4 + written;
    return;
  }
  view.setUint32(at, text.length * 2, true);
  at += 4;
  for (let i = 0; i < text.length; i++, at += 2) view.setUint16(at, text.charCodeAt(i), true);
}

/** Makes room for `more` bytes after `at`, keeping what is written. */
function room(more: number): void {
  if (at + more <= bytes.length) return;
  const grown = new Uint8Array(Math.max(at + more, bytes.length * 2));
  grown.set(bytes.subarray(0, at));
  bytes = grown;
  view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
