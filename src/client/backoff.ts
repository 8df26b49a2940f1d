/** Exponential backoff bounds, in milliseconds. */
export interface Backoff {
  /** The first retry waits up to this long. @default 500 */
  base: number;
  /** No wait from backoff is longer than this (a `Retry-After` may be). @default 10000 */
  cap: number;
}

/**
 * "Full jitter" backoff: a random wait between 0 and `min(cap, base * 2^(retry - 1))`. Spreading retries over the
 * whole window keeps clients that failed together from retrying together (AWS Architecture Blog, "Exponential
 * Backoff And Jitter").
 *
 * @param retry 1 for the first retry, 2 for the second, ...
 * @param random a number in [0, 1); tests pass a fixed one
 * @example
 * backoffDelay(3, { base: 500, cap: 10_000 }); // somewhere in [0, 2000)
 */
export function backoffDelay(retry: number, backoff: Backoff, random: number = Math.random()): number {
  const ceiling = Math.min(backoff.cap, backoff.base * 2 ** Math.max(0, retry - 1));
  return Math.floor(random * ceiling);
}
