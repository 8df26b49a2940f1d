import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import {
  type IdempotencyRecord,
  RECORD_FORMAT_VERSION,
  type RecordMeta,
  type StepRecord,
  type StoredResponse,
  type StoredWork,
} from "../../core/store.js";

// How records map to DynamoDB items and back, what an item weighs against DynamoDB's size limit, and the
// expression plumbing every request shares.

export type Item = Record<string, AttributeValue>;

/** DynamoDB's item size limit, bytes. */
export const ITEM_LIMIT = 400 * 1024;

/**
 * Native TTL deletes an item this long after the record expired. TTL is cleanup only (reads check `expires_at`),
 * and AWS judges it by its own clock: the margin keeps a caller whose clock runs behind from seeing its live record
 * deleted.
 */
const TTL_MARGIN_MS = 5 * 60_000;

export const n = (value: number): AttributeValue => ({ N: String(value) });
export const s = (value: string): AttributeValue => ({ S: value });

/** Epoch seconds for the `ttl` attribute. */
export function ttlOf(expiresAt: number): AttributeValue {
  return n(Math.ceil((expiresAt + TTL_MARGIN_MS) / 1000));
}

export function metaItem(meta: RecordMeta): AttributeValue {
  const fields: Item = {};
  for (const [name, value] of Object.entries(meta)) if (typeof value === "string") fields[name] = s(value);
  return { M: fields };
}

/** A step as the value of `steps.<name>`: `{ seq, state, value? }`. */
export function stepItem(step: StepRecord): AttributeValue {
  const fields: Item = { seq: n(step.seq), state: s(step.state) };
  if (step.value !== undefined) fields.value = s(step.value);
  return { M: fields };
}

export function workItem(work: StoredWork): AttributeValue {
  return { M: { name: s(work.name), input: s(work.input) } };
}

/** The steps of an item's `steps` map, in `seq` order. */
export function stepsOf(item: Item): StepRecord[] {
  const steps: StepRecord[] = [];
  for (const [name, value] of Object.entries(item.steps?.M ?? {})) {
    const fields = value.M ?? {};
    const step: StepRecord = { name, seq: Number(fields.seq?.N ?? 0), state: fields.state?.S as StepRecord["state"] };
    if (fields.value?.S !== undefined) step.value = fields.value.S;
    steps.push(step);
  }
  return steps.sort((a, b) => a.seq - b.seq);
}

/** A fresh in-flight record, as the item that replaces an expired one: a new run, with no steps. */
export function freshItem(
  id: string,
  fingerprint: string,
  claim: {
    token: number;
    now: number;
    lease: number;
    ttl: number;
    meta: RecordMeta;
    runId: string;
    work?: StoredWork | undefined;
  },
): Item {
  return {
    pk: s(id),
    state: s("in-flight"),
    fingerprint: s(fingerprint),
    token: n(claim.token),
    created_at: n(claim.now),
    lease_until: n(claim.now + claim.lease),
    expires_at: n(claim.now + claim.ttl),
    ttl: ttlOf(claim.now + claim.ttl),
    meta: metaItem(claim.meta),
    version: n(RECORD_FORMAT_VERSION),
    run_id: s(claim.runId),
    steps: { M: {} },
    ...(claim.work ? { work: workItem(claim.work) } : {}),
  };
}

/** The attributes `complete` sets besides state and times. Headers are one JSON string: compact and ordered. */
export function responseItem(response: StoredResponse): Item {
  return {
    status: n(response.status),
    headers: s(JSON.stringify(response.headers)),
    body: { B: response.body },
    kept: { BOOL: response.kept },
  };
}

export function toRecord(item: Item): IdempotencyRecord {
  const num = (name: string) => Number(item[name]?.N ?? 0);
  const meta: Record<string, string> = {};
  for (const [name, value] of Object.entries(item.meta?.M ?? {})) if (value.S !== undefined) meta[name] = value.S;
  const record: IdempotencyRecord = {
    id: item.pk?.S ?? "",
    state: item.state?.S as IdempotencyRecord["state"],
    fingerprint: item.fingerprint?.S ?? "",
    token: num("token"),
    createdAt: num("created_at"),
    leaseUntil: num("lease_until"),
    expiresAt: num("expires_at"),
    meta: meta as unknown as RecordMeta,
    version: num("version"),
    replays: num("replays"),
  };
  if (item.run_id?.S !== undefined) {
    record.runId = item.run_id.S;
    record.steps = stepsOf(item);
  }
  const work = item.work?.M;
  if (work?.name?.S !== undefined && work.input?.S !== undefined)
    record.work = { name: work.name.S, input: work.input.S };
  if (item.completed_at?.N !== undefined) record.completedAt = num("completed_at");
  if (item.status?.N !== undefined) {
    record.response = {
      status: num("status"),
      headers: JSON.parse(item.headers?.S ?? "[]"),
      body: item.body?.B ?? new Uint8Array(),
      kept: item.kept?.BOOL === true,
    };
  }
  return record;
}

/**
 * The item's size as DynamoDB counts it (attribute names plus values), rounded up: numbers count as their
 * 21-byte maximum, so the estimate is never below what DynamoDB computes.
 */
export function itemSize(item: Item): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += Buffer.byteLength(name) + valueSize(value);
  return size;
}

function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.N !== undefined) return 21;
  if (value.M !== undefined) return 3 + itemSize(value.M) + Object.keys(value.M).length;
  return 1;
}

export interface Expressions {
  UpdateExpression?: string;
  ConditionExpression?: string;
  FilterExpression?: string;
  ProjectionExpression?: string;
}

/**
 * Adds the `#name` placeholders the expressions use: `state`, `token`, `status` and `ttl` are reserved words, and
 * DynamoDB rejects a placeholder that no expression uses, so the names are read from the expressions themselves.
 */
export function named<T extends Expressions>(input: T): T & { ExpressionAttributeNames?: Record<string, string> } {
  const text = [input.UpdateExpression, input.ConditionExpression, input.FilterExpression, input.ProjectionExpression];
  const names = text.join(" ").match(/#\w+/g);
  if (!names) return input;
  return { ...input, ExpressionAttributeNames: Object.fromEntries(names.map((name) => [name, name.slice(1)])) };
}

/** A conditional write's output, or the item that refused it (when the backend returns it). */
export async function conditional<T>(request: Promise<T>): Promise<{ output: T } | { refusedBy: Item | undefined }> {
  try {
    return { output: await request };
  } catch (error) {
    if ((error as Error | undefined)?.name !== "ConditionalCheckFailedException") throw error;
    return { refusedBy: (error as { Item?: Item }).Item };
  }
}
