import { randomUUID } from "node:crypto";
import { type Cluster, Redis } from "ioredis";
import { expect } from "vitest";
import { recordId } from "../../../src/core/record-id.js";
import type { RecordState } from "../../../src/core/store.js";
import { RedisStore } from "../../../src/stores/redis/index.js";
import { keySlot } from "../../../src/stores/redis/record-index.js";
import type { RedisCluster, ServerStats } from "../../support/redis-cluster.js";
import { until } from "../../support/until.js";
import { type Answer, startCountingApp } from "./counting-app.js";

/**
 * Intents answered by a real HTTP server (oncely/node) on RedisStore over a Redis Cluster while the hash slots their
 * records live in move between masters, as `redis-cli --cluster reshard` moves them (IMPORTING and MIGRATING, keys
 * moved by MIGRATE in batches, then SETSLOT NODE on every master), one move at a time. Each intent is sent twice at
 * once (a duplicate delivery; the second waits for the first, `onInFlight: "wait"`), and each sender retries a 503 or
 * a 409 at once, as a client would after `Retry-After`. Intents take turns:
 *
 * - the claim races: the slot starts moving, then the intent is sent (a new record's claim is refused with TRYAGAIN on
 *   both nodes until the move ends), then the keys move;
 * - the complete races: once the moves before it have ended, the intent is sent and its handler held; the slot starts
 *   moving, the handler returns and the keys move;
 * - the move races the whole request, its slot holding 300 more keys (a move of some tens of milliseconds);
 * - no move of its own, among the others;
 * - and every 40th, a long move: the slot starts moving, the intent is sent, and the keys move only once a claim of it
 *   has been refused for longer than the store timeout (3 s) and answered 503 (with Retry-After); its retries then
 *   succeed.
 *
 * After the moves every intent is sent once more and must replay at once. `expectExactlyOnce` then checks the run.
 */

const WORKERS = 8;
/**
 * The store's `timeout` and the engine's `storeTimeout`. A complete refused for longer than this fails, and the
 * handler runs again once the lease lapses (see docs/stores/redis.md): the timeout must outlast the slowest move of a
 * slot holding a few hundred keys. With 1 s, a run on a machine at load average 10 once had a move outlast it.
 */
const STORE_TIMEOUT = 3_000;
/** Extra keys in the slot of a "move races the request" intent: its move takes some tens of milliseconds. */
const FILLERS = 300;
/** The longest one sender may take to get its answer, 503s and 409s retried. */
const SENDER_LIMIT_MS = 60_000;

type Mode =
  | "claim races"
  | "complete races"
  | "move races the request"
  | "no move of its own"
  | "long move"
  | "replay after the moves";
function modeOf(n: number): Mode {
  if (n % 40 === 2) return "long move";
  return (["claim races", "complete races", "move races the request", "no move of its own"] as const)[n % 4]!;
}

export interface SlotMoveRun {
  /** What the run counted; logged, and written where a test wants them. */
  figures: {
    intents: number;
    /** Answers other than 503 and 409, replays after the moves included. */
    answers: number;
    /** 503 answers, and those without Retry-After. */
    unavailable: number;
    unavailableWithoutRetryAfter: number;
    unavailableByMode: Record<string, number>;
    /** 409 answers (a wait for the first sender that outlasted `waitTimeout`). */
    conflicts: number;
    /** The slowest answer (503s included) per turn, and the replays after the moves. */
    slowestAnswerMs: Record<string, number>;
    moves: number;
    keysMoved: number;
    longestMoveMs: number;
    /** The longest a "complete races" handler was held, from its start to its slot's move starting. */
    longestHoldMs: number;
    /** Error replies of the masters during the run: TRYAGAIN, ASK and MOVED. */
    refusals: Record<string, number>;
    /** Scripts that failed while running (failed calls other than NOSCRIPT): each would have stopped halfway. */
    scriptsFailedRunning: number;
    /** The engine's store-error events, by reason and error. */
    storeErrors: Record<string, number>;
  };
  /** Intents whose handler ran more than once, or never. */
  duplicates: string[];
  lost: string[];
  /** Intents a sender got anything but the first run's 201 for. */
  mismatched: string[];
  /** 503s answered after every move had ended. */
  unavailableAfterMoves: number;
  longMoves: number;
  /** The store's index at the end, by state. */
  indexed: Record<RecordState, number>;
}

/** Where the client sends `slot`, and each of its connections' state and queued commands (for a stuck sender). */
function clientState(client: Cluster, slot: number): string {
  type Queues = { commandQueue: { length: number }; offlineQueue: { length: number } };
  const nodes = client.nodes("all").map((node) => {
    const { commandQueue, offlineQueue } = node as unknown as Queues;
    return `${node.options.port} ${node.status} sent ${commandQueue.length} queued ${offlineQueue.length}`;
  });
  return `client ${client.status}, slot ${slot} at ${client.slots[slot]?.join(",")}; connections: ${nodes.join("; ")}`;
}

/** What each master says of `slot` (owner, migrating or importing) and of the record `key`, over a connection of its own. */
async function nodesState(cluster: RedisCluster, slot: number, key: string): Promise<string> {
  const lines = await Promise.all(
    cluster.nodes.map(async ({ host, port }) => {
      const direct = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2_000 });
      direct.on("error", () => {});
      try {
        await direct.connect();
        const myself = ((await direct.cluster("NODES")) as string).split("\n").find((line) => line.includes("myself"));
        const marks = myself?.match(/\[[^\]]*\]/g)?.join(" ") ?? "";
        const ranges = (await direct.cluster("SLOTS")) as unknown as [number, number, [string, number]][];
        const owner = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
        const epoch = /cluster_my_epoch:(\d+)/.exec((await direct.cluster("INFO")) as string)?.[1];
        const count = (await direct.cluster("COUNTKEYSINSLOT", slot)) as number;
        const record = await direct.exists(key);
        return `${port} (epoch ${epoch}): owner ${owner}, ${marks || "no slot moving"}, ${count} keys in slot, record ${record}`;
      } catch (error) {
        return `${port}: ${(error as Error).message}`;
      } finally {
        direct.disconnect();
      }
    }),
  );
  return lines.join("; ");
}

/** Runs `intents` intents on `cluster` through `client`, under a prefix of their own. */
export async function intentsWhileSlotsMove(
  cluster: RedisCluster,
  client: Cluster,
  intents: number,
): Promise<SlotMoveRun> {
  const prefix = `oncely-slot-moves:${randomUUID().slice(0, 8)}:`;
  const store = new RedisStore({ client, prefix, timeout: STORE_TIMEOUT });
  const app = await startCountingApp(store, { storeTimeout: STORE_TIMEOUT, lease: 6_000, onInFlight: "wait" });
  try {
    const figures: SlotMoveRun["figures"] = {
      intents,
      answers: 0,
      unavailable: 0,
      unavailableWithoutRetryAfter: 0,
      conflicts: 0,
      slowestAnswerMs: {},
      moves: 0,
      keysMoved: 0,
      longestMoveMs: 0,
      longestHoldMs: 0,
      unavailableByMode: {},
      refusals: {},
      scriptsFailedRunning: 0,
      storeErrors: {},
    };
    const before = await cluster.serverStats();
    const unavailableFor = new Map<string, number>();
    /** Sends an intent until it is answered with anything but 503 or 409. */
    const deliver = async (key: string, mode: Mode): Promise<Answer> => {
      const deadline = performance.now() + SENDER_LIMIT_MS;
      for (;;) {
        const answer = await app.send("/guarded", key);
        figures.slowestAnswerMs[mode] = Math.max(figures.slowestAnswerMs[mode] ?? 0, Math.round(answer.ms));
        if (answer.status === 503) {
          figures.unavailable++;
          unavailableFor.set(key, (unavailableFor.get(key) ?? 0) + 1);
          figures.unavailableByMode[mode] = (figures.unavailableByMode[mode] ?? 0) + 1;
          if (!answer.headers.get("retry-after")) figures.unavailableWithoutRetryAfter++;
        } else if (answer.status === 409) {
          figures.conflicts++;
        } else {
          figures.answers++;
          return answer;
        }
        if (performance.now() > deadline) {
          const id = recordId(undefined, key);
          const slot = keySlot(id);
          const errors = app.events.filter((event) => event.key === key && event.type === "store-error");
          const last = errors.at(-1);
          throw new Error(
            `${key} (${mode}, slot ${slot}) unanswered after ${SENDER_LIMIT_MS} ms; moving now: ${moving ?? "none"}; ` +
              `its store errors: ${errors.length}, the last: ${(last?.error as Error | undefined)?.message}; ` +
              `${clientState(client, slot)}; ${await nodesState(cluster, slot, `${prefix}{${id}}`)}`,
          );
        }
      }
    };
    // One move at a time, as redis-cli moves slots: MIGRATE blocks the source until the target has the keys, so moves
    // between the three masters in a ring could wait on each other until MIGRATE's timeout.
    let moves = Promise.resolve();
    /** The slot moving now, and since when (for the error of a sender that waited too long). */
    let moving: string | undefined;
    /**
     * Moves `slot` when the move before has ended, timing it from its start to its end. `before` runs first, once
     * the moves before have ended: what must happen just before the slot starts moving, without waiting in the queue.
     */
    const move = (
      slot: number,
      during: (finish: (batch?: number) => Promise<void>) => Promise<void>,
      before?: () => Promise<void>,
    ) => {
      const run = moves.then(async () => {
        await before?.();
        const start = performance.now();
        moving = `slot ${slot} since ${new Date().toISOString()}`;
        const migration = await cluster.beginMigration(slot);
        await during(async (batch) => {
          figures.keysMoved += await migration.finish(batch);
        });
        moving = undefined;
        figures.moves++;
        figures.longestMoveMs = Math.max(figures.longestMoveMs, Math.round(performance.now() - start));
      });
      moves = run.catch(() => {});
      return run;
    };
    const fill = async (id: string, count: number) => {
      const pipeline = client.pipeline();
      for (let n = 0; n < count; n++) pipeline.set(`${prefix}filler:{${id}}:${n}`, "x");
      await pipeline.exec();
    };

    const keys = Array.from({ length: intents }, (_, n) => `intent-${n}-${randomUUID()}`);
    const answers = new Map<string, Answer[]>();
    const intent = async (n: number) => {
      const key = keys[n]!;
      const id = recordId(undefined, key);
      const slot = keySlot(id);
      const mode = modeOf(n);
      const both = () => Promise.all([deliver(key, mode), deliver(key, mode)]);
      let sent: Answer[] = [];
      if (mode === "claim races") {
        await move(slot, async (finish) => {
          const sending = both();
          await finish();
          sent = await sending;
        });
      } else if (mode === "complete races") {
        // The request is sent once the moves before have ended: its handler is held only until its own slot starts
        // moving, not while other intents' moves run (a queue of slow moves once held it past the sender's limit).
        const held = app.hold(key);
        let sending: Promise<Answer[]> | undefined;
        let heldAt = 0;
        const holding = async () => {
          sending = both();
          await held.started;
          heldAt = performance.now();
        };
        await move(
          slot,
          async (finish) => {
            figures.longestHoldMs = Math.max(figures.longestHoldMs, Math.round(performance.now() - heldAt));
            held.release();
            await finish();
          },
          holding,
        );
        sent = await sending!;
      } else if (mode === "move races the request") {
        await fill(id, FILLERS);
        const sending = both();
        await move(slot, (finish) => finish());
        sent = await sending;
      } else if (mode === "long move") {
        await move(slot, async (finish) => {
          const sending = both();
          await until(() => unavailableFor.has(key), "a claim to be answered 503", SENDER_LIMIT_MS);
          await finish();
          sent = await sending;
        });
      } else {
        sent = await both();
      }
      answers.set(key, sent);
    };
    let next = 0;
    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        while (next < intents) await intent(next++);
      }),
    );

    // Every move has ended: each intent replays at once, with no 503.
    const unavailableDuringMoves = figures.unavailable;
    for (const key of keys) answers.get(key)!.push(await deliver(key, "replay after the moves"));
    const after = await cluster.serverStats();
    const delta = (counts: (stats: ServerStats) => Record<string, number>, name: string) =>
      (counts(after)[name] ?? 0) - (counts(before)[name] ?? 0);
    for (const kind of ["TRYAGAIN", "ASK", "MOVED"]) figures.refusals[kind] = delta((stats) => stats.errors, kind);
    // A script that fails while running counts as a failed call; so does an EVALSHA of a script the node has not
    // loaded yet (NOSCRIPT, which ioredis follows with an EVAL): the rest failed halfway.
    figures.scriptsFailedRunning =
      delta((stats) => stats.failed, "evalsha") +
      delta((stats) => stats.failed, "eval") -
      delta((stats) => stats.errors, "NOSCRIPT");
    for (const event of app.events.filter((event) => event.type === "store-error")) {
      // The reason, and the error behind it where the reason does not already name it.
      const cause = (event.error as Error | undefined)?.message;
      const reason = cause && cause !== event.reason ? `${event.reason}: ${cause}` : (event.reason ?? "store-error");
      figures.storeErrors[reason] = (figures.storeErrors[reason] ?? 0) + 1;
    }
    console.log(`[cluster migration] ${JSON.stringify(figures)}`);

    const mismatched = keys.filter((key) =>
      answers.get(key)!.some((answer) => answer.status !== 201 || JSON.parse(answer.body).run !== 1),
    );
    return {
      figures,
      duplicates: keys.filter((key) => app.runs(key) > 1),
      lost: keys.filter((key) => app.runs(key) === 0),
      mismatched,
      unavailableAfterMoves: figures.unavailable - unavailableDuringMoves,
      longMoves: keys.filter((_, n) => modeOf(n) === "long move").length,
      indexed: (await store.aggregate()).states,
    };
  } finally {
    await app.close();
  }
}

/**
 * Every handler ran exactly once and every sender got its response, no script failed halfway, nothing was answered
 * 503 after the moves (nor without Retry-After during them), every long move's intent was answered 503 at least once,
 * the moves did race requests (TRYAGAIN), and the index counts every record, completed.
 */
export function expectExactlyOnce(run: SlotMoveRun): void {
  const { figures } = run;
  expect({
    duplicates: run.duplicates,
    lost: run.lost,
    mismatched: run.mismatched,
    unavailableAfterMoves: run.unavailableAfterMoves,
    unavailableWithoutRetryAfter: figures.unavailableWithoutRetryAfter,
    scriptsFailedRunning: figures.scriptsFailedRunning,
    indexed: run.indexed,
  }).toEqual({
    duplicates: [],
    lost: [],
    mismatched: [],
    unavailableAfterMoves: 0,
    unavailableWithoutRetryAfter: 0,
    scriptsFailedRunning: 0,
    indexed: { "in-flight": 0, released: 0, completed: figures.intents },
  });
  expect(figures.unavailableByMode["long move"] ?? 0).toBeGreaterThanOrEqual(run.longMoves);
  expect(figures.refusals.TRYAGAIN).toBeGreaterThan(0);
  expect(figures.moves).toBeGreaterThanOrEqual(figures.intents / 2);
}
