import type { Store } from "./store.js";

/** How often batched replay counts are written. */
const FLUSH_INTERVAL = 1_000;
/** Distinct ids held before a write goes out early, so a burst cannot grow the batch without bound. */
const MAX_PENDING = 1_000;

/**
 * Counts replays per record and hands them to the store in batches, off the request path: a replay never waits for
 * (or fails because of) its count. Counts are best effort: a failed write, or a process that dies, loses its batch.
 */
export class ReplayCounter {
  #pending = new Map<string, number>();
  #timer?: ReturnType<typeof setTimeout>;

  constructor(readonly store: Store & Required<Pick<Store, "countReplays">>) {}

  add(id: string): void {
    this.#pending.set(id, (this.#pending.get(id) ?? 0) + 1);
    if (this.#pending.size >= MAX_PENDING) void this.flush();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), FLUSH_INTERVAL);
      this.#timer.unref?.();
    }
  }

  /** Writes what is pending; never rejects. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
    const counts = this.#pending;
    this.#pending = new Map();
    try {
      await this.store.countReplays(counts);
    } catch {
      // Best effort: counts are for operators, and a store in trouble has better things to do.
    }
  }
}

/** A counter for stores that keep replay counts; none for the others. */
export function replayCounterFor(store: Store): ReplayCounter | undefined {
  return typeof store.countReplays === "function"
    ? new ReplayCounter(store as Store & Required<Pick<Store, "countReplays">>)
    : undefined;
}
