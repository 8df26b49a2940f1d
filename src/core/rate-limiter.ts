/**
 * Counts requests per id in fixed windows, in this process only: a guard against one client hammering one key,
 * not a global rate limit. Stale windows are dropped as the map is touched, so memory stays bounded by traffic.
 */
export class RateLimiter {
  readonly #windows = new Map<string, { count: number; resetAt: number }>();
  readonly #max: number;
  readonly #window: number;
  #nextSweep = 0;

  constructor(max: number, window: number) {
    this.#max = max;
    this.#window = window;
  }

  /** Counts one hit; returns 0 when allowed, or the ms until the window resets when over the limit. */
  hit(id: string, now: number): number {
    this.#sweep(now);
    let entry = this.#windows.get(id);
    if (!entry || entry.resetAt <= now) {
      entry = { count: 0, resetAt: now + this.#window };
      this.#windows.set(id, entry);
    }
    entry.count += 1;
    return entry.count > this.#max ? entry.resetAt - now : 0;
  }

  #sweep(now: number): void {
    if (now < this.#nextSweep) return;
    this.#nextSweep = now + this.#window;
    for (const [id, entry] of this.#windows) if (entry.resetAt <= now) this.#windows.delete(id);
  }
}
