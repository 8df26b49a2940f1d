import fc from "fast-check";
import type { ClaimResult, IdempotencyRecord, Store } from "../../../src/core/store.js";
import {
  emptyState,
  FINGERPRINTS,
  type Interval,
  type ModelState,
  type Observed,
  type ObservedRecord,
  type Op,
  responseFor,
  step,
  type Timing,
} from "./model.js";

/**
 * The commands a run is made of, as plain data (so fast-check shrinks them), and the runner that plays them against
 * a store and the model side by side.
 */
export type Step = { kind: "op"; op: Op } | { kind: "par"; a: Op; b: Op } | { kind: "wait"; ms: number };

export const HOLDERS = 3;
export const IDS = 3;

/** One store under test, with the clock its records are judged by. */
export interface Subject {
  store: Store;
  timing: Timing;
  /** The waits a run picks from, ms: chosen to land on, just before and just after every lease and ttl edge. */
  waits: readonly number[];
  /** Moves time on: the injected clock, or a real sleep for a networked store. */
  wait(ms: number): Promise<void>;
  /**
   * The interval the backend's clock was in while a call ran: `[sent, answered]` on a networked store, widened by
   * `margin` ms; on an injected clock, the clock's one instant.
   */
  during(sent: number, answered: number): Interval;
  /** The local time now (the injected clock, or Date.now()). */
  now(): number;
  /** 0 on an injected clock, 1 on a networked store (see `step`). */
  slack: number;
}

const holder = fc.integer({ min: 0, max: HOLDERS - 1 });
const id = fc.integer({ min: 0, max: IDS - 1 });

export const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant("claim" as const), holder, id, fp: fc.constantFrom(0, 0, 0, 1) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("renew" as const), holder, id }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("complete" as const), holder, id, long: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("release" as const), holder, id }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("get" as const), id }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), id }) },
);

/** A run: `commands` steps, some of them two operations at once, some of them time passing. */
export function stepsArbitrary(waits: readonly number[], minLength: number, maxLength: number): fc.Arbitrary<Step[]> {
  const claimOn = (target: number) =>
    fc.record({ kind: fc.constant("claim" as const), holder, id: fc.constant(target), fp: fc.constantFrom(0, 0, 1) });
  const par = id.chain((target) =>
    fc
      .record({
        kind: fc.constant("par" as const),
        a: claimOn(target),
        // Two claims of one id race most often; a claim against a late renew, complete or release of it also races.
        b: fc.oneof(
          { weight: 3, arbitrary: claimOn(target) },
          { weight: 2, arbitrary: opArbitrary.map((op) => ({ ...op, id: target })) },
        ),
      })
      .map((race) =>
        // Two holders race, never one with itself.
        "holder" in race.b && race.b.holder === race.a.holder
          ? { ...race, b: { ...race.b, holder: (race.a.holder + 1) % HOLDERS } }
          : race,
      ),
  );
  const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
    { weight: 10, arbitrary: opArbitrary.map((op) => ({ kind: "op" as const, op })) },
    { weight: 2, arbitrary: par },
    { weight: 3, arbitrary: fc.constantFrom(...waits).map((ms) => ({ kind: "wait" as const, ms })) },
  );
  return fc.array(stepArbitrary, { minLength, maxLength, size: "max" });
}

const text = (body: Uint8Array) => Buffer.from(body).toString();

function observeRecord(record: IdempotencyRecord | undefined): ObservedRecord | undefined {
  if (!record) return undefined;
  const seen: ObservedRecord = {
    state: record.state,
    fingerprint: record.fingerprint,
    token: Number(record.token),
    leaseUntil: Number(record.leaseUntil),
    expiresAt: Number(record.expiresAt),
  };
  if (record.response) {
    seen.status = record.response.status;
    seen.body = text(record.response.body);
  }
  return seen;
}

function observeClaim(result: ClaimResult): Observed {
  if (result.status === "claimed") return { kind: "claimed", token: Number(result.token), recovered: result.recovered };
  return { kind: result.status, record: observeRecord(result.record)! };
}

/** Runs one bound operation on the store. */
async function execute(subject: Subject, op: Op, ids: string[], seq: number): Promise<Observed> {
  const { store, timing } = subject;
  const key = ids[op.id]!;
  switch (op.kind) {
    case "claim": {
      const options = { lease: timing.lease, ttl: timing.claimTtl, meta: { key: `k${op.id}`, method: "POST" } };
      return observeClaim(await store.claim(key, FINGERPRINTS[op.fp]!, options));
    }
    case "renew":
      return { kind: "bool", value: await store.renew(key, op.token!, timing.lease) };
    case "complete": {
      const { status, body } = responseFor(op.holder, seq);
      const response = {
        status,
        headers: [["x-seq", String(seq)]] as [string, string][],
        body: Buffer.from(body),
        kept: true,
      };
      const ttl = timing.completeTtl[op.long ? 1 : 0];
      return { kind: "bool", value: await store.complete(key, op.token!, response, ttl) };
    }
    case "release":
      return { kind: "bool", value: await store.release(key, op.token!) };
    case "get":
      return { kind: "record", record: observeRecord(await store.get(key)) };
    case "delete":
      return { kind: "bool", value: await store.delete(key) };
  }
}

/** How often each operation got each answer: to see that the runs reach takeovers, fencing and expiry. */
export type Tally = Record<string, number>;

function count(tally: Tally, op: Op, observed: Observed): void {
  const answer =
    observed.kind === "claimed"
      ? observed.recovered
        ? "recovered"
        : "claimed"
      : observed.kind === "bool"
        ? String(observed.value)
        : observed.kind === "record"
          ? (observed.record?.state ?? "undefined")
          : observed.kind;
  const fenced = "token" in op && op.token !== 0 && answer === "false" ? " (fenced)" : "";
  const name = `${op.kind} ${answer}${fenced}`;
  tally[name] = (tally[name] ?? 0) + 1;
}

/** The most candidate states kept at once; more means the model lost track (never seen in practice). */
const MAX_CANDIDATES = 256;

/** Advances every candidate by the ops, in the order given; returns the survivors, or why none survived. */
function advance(
  candidates: ModelState[],
  ordered: [Op, Observed, Interval][],
  subject: Subject,
  seq: number,
): { next: ModelState[]; why: string } {
  let current = candidates;
  let why = "";
  for (const [op, observed, now] of ordered) {
    const next: ModelState[] = [];
    for (const state of current) {
      const result = step(state, op, observed, now, subject.timing, seq, subject.slack);
      next.push(...result.next);
      if (result.next.length === 0 && why === "") why = result.why;
    }
    current = next;
    if (current.length === 0) return { next: [], why };
  }
  return { next: current, why };
}

/** Candidates without duplicates. */
function distinct(states: ModelState[]): ModelState[] {
  const seen = new Map<string, ModelState>();
  for (const state of states) seen.set(JSON.stringify(state), state);
  return [...seen.values()];
}

/** Plays `steps` against the store and the model; throws at the first answer no candidate state allows. */
export async function play(subject: Subject, steps: Step[], ids: string[], tally: Tally = {}): Promise<void> {
  let candidates = [emptyState()];
  // What each holder last got from a claim, per id: the token it sends, stale or not (0, never a token, if none).
  const holders: number[][] = Array.from({ length: HOLDERS }, () => Array.from({ length: IDS }, () => 0));
  const bind = (op: Op): Op =>
    op.kind === "renew" || op.kind === "complete" || op.kind === "release"
      ? { ...op, token: holders[op.holder]![op.id]! }
      : op;
  const granted = (op: Op, observed: Observed) => {
    if (op.kind === "claim" && observed.kind === "claimed") holders[op.holder]![op.id] = observed.token;
  };
  for (const [seq, s] of steps.entries()) {
    if (s.kind === "wait") {
      await subject.wait(s.ms);
      continue;
    }
    if (s.kind === "op") {
      const op = bind(s.op);
      const sent = subject.now();
      const observed = await execute(subject, op, ids, seq);
      const result = advance(candidates, [[op, observed, subject.during(sent, subject.now())]], subject, seq);
      if (result.next.length === 0) throw new Error(result.why);
      candidates = distinct(result.next);
      granted(op, observed);
      count(tally, op, observed);
    } else {
      // Two operations at once: the answers must be those of one order or the other. Both send the tokens their
      // holders had before the race.
      const a = bind(s.a);
      const b = bind(s.b);
      const sent = subject.now();
      const timed = (op: Op) =>
        execute(subject, op, ids, seq).then((observed) => ({ observed, now: subject.during(sent, subject.now()) }));
      const [ra, rb] = await Promise.all([timed(a), timed(b)]);
      // Exactly one of two racing claims wins, unless the race outlasted the lease (a loaded backend): then the
      // second may rightly take over, and the model below judges it.
      const lasted = Math.max(ra.now.hi, rb.now.hi) - sent;
      if (ra.observed.kind === "claimed" && rb.observed.kind === "claimed" && lasted < subject.timing.lease) {
        throw new Error(`step ${seq}: both racing claims won: ${JSON.stringify([s, ra.observed, rb.observed])}`);
      }
      const ab = advance(
        candidates,
        [
          [a, ra.observed, ra.now],
          [b, rb.observed, rb.now],
        ],
        subject,
        seq,
      );
      const ba = advance(
        candidates,
        [
          [b, rb.observed, rb.now],
          [a, ra.observed, ra.now],
        ],
        subject,
        seq,
      );
      if (ab.next.length + ba.next.length === 0) {
        throw new Error(`step ${seq}: no order of the race fits\n${ab.why}\n--- or, the other order ---\n${ba.why}`);
      }
      candidates = distinct([...ab.next, ...ba.next]);
      granted(a, ra.observed);
      granted(b, rb.observed);
      count(tally, a, ra.observed);
      count(tally, b, rb.observed);
    }
    if (candidates.length > MAX_CANDIDATES) throw new Error(`step ${seq}: ${candidates.length} candidate states`);
  }
}
