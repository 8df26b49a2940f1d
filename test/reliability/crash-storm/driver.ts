import { createClient, idempotencyInfo, memoryKeyStore } from "../../../src/client/index.js";
import type { Fleet } from "./fleet.js";

/** A placeholder origin: each attempt goes to a live worker picked at random (`spreadingFetch`). */
const PLACEHOLDER = "http://crash-storm.invalid";

/** What the client finally answered for one intent. */
export interface Outcome {
  intent: number;
  /** The key the client sent on every attempt of this intent. */
  key: string | undefined;
  /** Undefined when the call threw (deadline, retries exhausted); `error` says why. */
  status?: number;
  replayed?: boolean;
  body?: string;
  attempts?: number;
  error?: string;
}

export interface DriverOptions {
  /** Intents in flight at once. */
  lanes: number;
  /** Keeps issuing intents while this says so (given how many were started). */
  more(started: number): boolean;
}

/**
 * Sends one POST per intent through `oncely/client`, each with its own key kept for the intent, retried through
 * kills until a final answer. Every attempt goes to a worker picked at random among those up at that moment (any
 * worker when none is), so one intent's attempts hit different processes. `retries` counts the retries by cause.
 */
export async function drive(fleet: Fleet, options: DriverOptions, retries: Record<string, number> = {}) {
  const keyStore = memoryKeyStore();
  const api = createClient({
    // A kill costs an intent a refused connection or a reset, then a 409 until the killed claim's lease lapses: many
    // quick attempts, and a deadline far past any lease.
    retries: 10_000,
    backoff: { base: 20, cap: 250 },
    timeout: "20s",
    deadline: "180s",
    keyStore,
    onRetry: ({ response, error }) => {
      const reason = response ? String(response.status) : String((error as Error)?.cause ?? error).slice(0, 60);
      retries[reason] = (retries[reason] ?? 0) + 1;
    },
    fetch: (input, init) => fetch(input.replace(PLACEHOLDER, pickOrigin(fleet)), init),
  });
  const outcomes: Outcome[] = [];
  let next = 0;
  const lane = async () => {
    while (options.more(next)) {
      const intent = next++;
      const name = `intent-${intent}`;
      try {
        const response = await api(`${PLACEHOLDER}/effects`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ intent }),
          intent: name,
        });
        const info = idempotencyInfo(response);
        outcomes.push({
          intent,
          key: info?.idempotencyKey,
          status: response.status,
          replayed: info?.replayed,
          body: await response.text(),
          attempts: info?.attempts,
        });
      } catch (error) {
        outcomes.push({ intent, key: await keyStore.get(name), error: String(error) });
      }
    }
  };
  await Promise.all(Array.from({ length: options.lanes }, lane));
  return outcomes.sort((a, b) => a.intent - b.intent);
}

function pickOrigin(fleet: Fleet): string {
  const live = fleet.live();
  const pool = live.length > 0 ? live : fleet.slots;
  return fleet.origin(pool[Math.floor(Math.random() * pool.length)]!);
}

/**
 * After the storm, with every worker up and no kills: sends each intent's request once more, with its key, to a
 * random worker. The answer must be the stored one (a replay, byte for byte what the client got).
 */
export async function replayAll(fleet: Fleet, outcomes: readonly Outcome[], lanes: number) {
  const mismatches: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < outcomes.length) {
      const outcome = outcomes[next++]!;
      if (outcome.key === undefined || outcome.body === undefined) continue;
      const response = await fetch(`${pickOrigin(fleet)}/effects`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": outcome.key },
        body: JSON.stringify({ intent: outcome.intent }),
      });
      const body = await response.text();
      const replayed = response.headers.get("idempotent-replayed") === "true";
      if (response.status !== outcome.status || !replayed || body !== outcome.body) {
        mismatches.push(
          `intent ${outcome.intent}: the client got ${outcome.status} ${outcome.body}; ` +
            `now ${response.status}${replayed ? " replayed" : ""} ${body.slice(0, 200)}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return mismatches;
}
