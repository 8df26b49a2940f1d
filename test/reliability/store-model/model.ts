/**
 * The reference model of the store contract (src/core/store.ts, and "The store contract" in ARCHITECTURE.md): what one
 * record may answer to each operation, given when the operation ran.
 *
 * Time is an interval. On an injected clock (memory, SQLite) an operation runs at one known instant, every interval
 * is a point and the model is exact. A networked store judges time by its backend's clock, somewhere inside the
 * call: the model then gets `[sent - margin, answered + margin]` and, only where a lease or expiry edge falls inside
 * that interval, accepts either side of the edge (and follows the side the store took). Outside that interval every
 * property is checked exactly as on the injected clock.
 */

export interface Interval {
  lo: number;
  hi: number;
}

export const point = (t: number): Interval => ({ lo: t, hi: t });
const shift = (i: Interval, ms: number): Interval => ({ lo: i.lo + ms, hi: i.hi + ms });

/** How many operations landed inside the margin of a lease or ttl edge, where the model accepted either side. */
export const margins = { used: 0 };
let straddled = false;

/** The possible truths of "the deadline has passed" (`deadline <= now`, as every store compares). */
function passed(deadline: Interval, now: Interval): boolean[] {
  if (deadline.hi <= now.lo) return [true];
  if (deadline.lo > now.hi) return [false];
  straddled = true;
  return [false, true];
}

export interface Timing {
  /** The lease every claim and renew asks for, ms. */
  lease: number;
  /** The ttl every claim asks for, ms (one per route in the engine, so one per run here). */
  claimTtl: number;
  /** The two retentions `complete` picks from, ms. */
  completeTtl: readonly [number, number];
}

export interface ModelRecord {
  state: "in-flight" | "released" | "completed";
  fingerprint: string;
  token: number;
  leaseUntil: Interval;
  expiresAt: Interval;
  /** The completed response's status and body (as text), to tell one completion from another. */
  status?: number;
  body?: string;
}

export interface IdState {
  record?: ModelRecord;
  /** Every token issued for this id since it was created or last deleted. */
  issued: number[];
}

/**
 * One state the store may be in. Where two orders of a race, or both sides of an edge inside the margin, fit what the
 * store answered, the runner keeps every candidate state until later answers rule all but the true ones out.
 */
export interface ModelState {
  ids: Record<string, IdState>;
}

/** `token`, on renew, complete and release: the one the holder sent (the last a claim granted it for the id, or 0). */
export type Op =
  | { kind: "claim"; holder: number; id: number; fp: number }
  | { kind: "renew"; holder: number; id: number; token?: number }
  | { kind: "complete"; holder: number; id: number; long: boolean; token?: number }
  | { kind: "release"; holder: number; id: number; token?: number }
  | { kind: "get"; id: number }
  | { kind: "delete"; id: number };

export const FINGERPRINTS = ["fp-a", "fp-b"] as const;

/** What a store answered, normalised (tokens as numbers, bodies as text). */
export type Observed =
  | { kind: "claimed"; token: number; recovered: boolean }
  | { kind: "in-flight" | "completed"; record: ObservedRecord }
  | { kind: "bool"; value: boolean }
  | { kind: "record"; record: ObservedRecord | undefined };

export interface ObservedRecord {
  state: string;
  fingerprint: string;
  token: number;
  leaseUntil: number;
  expiresAt: number;
  status?: number;
  body?: string;
}

interface Outcome {
  /** What the model expects, for the failure message. */
  expect: string;
  /** undefined when `observed` is this outcome; otherwise why not. */
  check(observed: Observed): string | undefined;
  next(observed: Observed): ModelState;
}

export const emptyState = (): ModelState => ({ ids: {} });

/** What `complete` stores for an op at step `seq`: a status and a body unique to that step. */
export const responseFor = (holder: number, seq: number) => ({ status: 200 + (seq % 50), body: `h${holder}#${seq}` });

/**
 * The states `op` (run over `now`) may leave, given what the store answered: none when the answer breaks the
 * contract in `state` (then `why` says how). `slack` is 0 on an injected clock and 1 on a networked store (MySQL's
 * renew moves a lease by at least 1 ms, so the row always counts as changed).
 */
export function step(
  state: ModelState,
  op: Op,
  observed: Observed,
  now: Interval,
  timing: Timing,
  seq: number,
  slack: number,
): { next: ModelState[]; why: string } {
  straddled = false;
  const outcomes = outcomesOf(state, op, now, timing, seq, slack);
  if (straddled) margins.used++;
  const next = outcomes.filter((o) => o.check(observed) === undefined).map((o) => o.next(observed));
  const why =
    next.length > 0
      ? ""
      : `step ${seq} ${JSON.stringify(op)} at [${now.lo}, ${now.hi}] answered ${JSON.stringify(observed)}\n` +
        `model record: ${JSON.stringify(state.ids[op.id]?.record)}\nexpected one of:\n` +
        outcomes.map((o) => `  - ${o.expect}: ${o.check(observed)}`).join("\n");
  return { next, why };
}

function outcomesOf(state: ModelState, op: Op, now: Interval, timing: Timing, seq: number, slack: number): Outcome[] {
  const id = String(op.id);
  const current = state.ids[id] ?? { issued: [] };
  const record = current.record;
  const clone = (): ModelState => structuredClone(state);
  const expiredNow = record ? passed(record.expiresAt, now) : [true];
  const out: Outcome[] = [];

  /** Checks a record the store returned against the model's, and narrows the model's intervals to its values. */
  const sameRecord = (seen: ObservedRecord | undefined, want: ModelRecord): string | undefined => {
    if (!seen) return "no record";
    if (seen.state !== want.state) return `state ${seen.state}, model ${want.state}`;
    if (seen.fingerprint !== want.fingerprint) return `fingerprint ${seen.fingerprint}, model ${want.fingerprint}`;
    if (seen.token !== want.token) return `token ${seen.token}, model ${want.token}`;
    if (seen.expiresAt < want.expiresAt.lo || seen.expiresAt > want.expiresAt.hi) {
      return `expiresAt ${seen.expiresAt}, model [${want.expiresAt.lo}, ${want.expiresAt.hi}]`;
    }
    if (want.state === "in-flight" && (seen.leaseUntil < want.leaseUntil.lo || seen.leaseUntil > want.leaseUntil.hi)) {
      return `leaseUntil ${seen.leaseUntil}, model [${want.leaseUntil.lo}, ${want.leaseUntil.hi}]`;
    }
    if (want.state === "completed" && (seen.status !== want.status || seen.body !== want.body)) {
      return `response ${seen.status} ${JSON.stringify(seen.body)}, model ${want.status} ${JSON.stringify(want.body)}`;
    }
    if (want.state !== "completed" && seen.status !== undefined) return `a response on a ${want.state} record`;
    return undefined;
  };
  const narrowed = (seen: ObservedRecord): ModelState => {
    const next = clone();
    const r = next.ids[id]!.record!;
    r.expiresAt = point(seen.expiresAt);
    if (r.state === "in-flight") r.leaseUntil = point(seen.leaseUntil);
    return next;
  };

  if (op.kind === "claim") {
    const fingerprint = FINGERPRINTS[op.fp]!;
    const grant = (recovered: boolean, fresh: boolean): Outcome => ({
      expect: `claimed (recovered ${recovered}${fresh ? ", a fresh record" : ", a takeover"})`,
      check: (o) => {
        if (o.kind !== "claimed") return `answered ${o.kind}`;
        if (o.recovered !== recovered) return `recovered ${o.recovered}`;
        const highest = Math.max(0, ...current.issued);
        if (!(o.token > highest))
          return `token ${o.token} does not rise above ${highest} (tokens issued: ${current.issued})`;
        return undefined;
      },
      next: (o) => {
        const next = clone();
        const token = (o as { token: number }).token;
        const expiresAt = shift(now, timing.claimTtl);
        next.ids[id] = {
          issued: [...current.issued, token],
          record: {
            state: "in-flight",
            fingerprint,
            token,
            leaseUntil: shift(now, timing.lease),
            expiresAt:
              fresh || !record
                ? expiresAt
                : { lo: Math.max(record.expiresAt.lo, expiresAt.lo), hi: Math.max(record.expiresAt.hi, expiresAt.hi) },
          },
        };
        return next;
      },
    });
    for (const expired of expiredNow) {
      if (!record || expired) {
        out.push(grant(false, true));
        continue;
      }
      if (record.state === "completed") {
        out.push({
          expect: "completed, the stored record",
          check: (o) => (o.kind === "completed" ? sameRecord(o.record, record) : `answered ${o.kind}`),
          next: (o) => narrowed((o as { record: ObservedRecord }).record),
        });
        continue;
      }
      const lapsedNow = record.state === "in-flight" ? passed(record.leaseUntil, now) : [false];
      for (const lapsed of lapsedNow) {
        if (record.fingerprint === fingerprint && (record.state === "released" || lapsed)) {
          out.push(grant(lapsed, false));
        } else {
          out.push({
            expect: `in-flight, the ${record.state} record (${lapsed ? "lapsed, other fingerprint" : "live or other fingerprint"})`,
            check: (o) => (o.kind === "in-flight" ? sameRecord(o.record, record) : `answered ${o.kind}`),
            next: (o) => narrowed((o as { record: ObservedRecord }).record),
          });
        }
      }
    }
    return out;
  }

  if (op.kind === "renew" || op.kind === "complete" || op.kind === "release") {
    const token = op.token ?? 0;
    for (const expired of expiredNow) {
      const held = record !== undefined && !expired && record.state === "in-flight" && record.token === token;
      if (!held) {
        out.push({
          expect: `false (token ${token} does not hold: ${record ? `${expired ? "expired " : ""}${record.state} with token ${record.token}` : "no record"})`,
          check: (o) => (o.kind === "bool" && o.value === false ? undefined : `answered ${JSON.stringify(o)}`),
          next: () => clone(),
        });
        continue;
      }
      out.push({
        expect: `true (token ${token} holds)`,
        check: (o) => (o.kind === "bool" && o.value === true ? undefined : `answered ${JSON.stringify(o)}`),
        next: () => {
          const next = clone();
          const r = next.ids[id]!.record!;
          if (op.kind === "renew") {
            const until = shift(now, timing.lease);
            r.leaseUntil = { lo: Math.max(r.leaseUntil.lo, until.lo), hi: Math.max(r.leaseUntil.hi + slack, until.hi) };
          } else if (op.kind === "release") {
            r.state = "released";
            r.leaseUntil = point(0);
          } else {
            const response = responseFor(op.holder, seq);
            r.state = "completed";
            r.leaseUntil = point(0);
            r.expiresAt = shift(now, timing.completeTtl[op.long ? 1 : 0]);
            r.status = response.status;
            r.body = response.body;
          }
          return next;
        },
      });
    }
    return out;
  }

  if (op.kind === "get") {
    for (const expired of expiredNow) {
      if (!record || expired) {
        out.push({
          expect: "undefined (absent or expired)",
          check: (o) => (o.kind === "record" && o.record === undefined ? undefined : `answered ${JSON.stringify(o)}`),
          next: () => clone(),
        });
      } else {
        out.push({
          expect: `the ${record.state} record`,
          check: (o) => (o.kind === "record" ? sameRecord(o.record, record) : `answered ${o.kind}`),
          next: (o) => narrowed((o as { record: ObservedRecord }).record),
        });
      }
    }
    return out;
  }

  // delete: true when a record was there. An expired record not yet purged may still count as there; the contract
  // does not say, so an expired one may answer either.
  const answers = !record ? [false] : expiredNow.includes(true) ? [false, true] : [true];
  for (const value of answers) {
    out.push({
      expect: `${value}`,
      check: (o) => (o.kind === "bool" && o.value === value ? undefined : `answered ${JSON.stringify(o)}`),
      next: () => {
        const next = clone();
        // A deleted record's successor is a new record: its tokens start over from the clock (see the test file's
        // note on fencing across a delete).
        next.ids[id] = { issued: [] };
        return next;
      },
    });
  }
  return out;
}
