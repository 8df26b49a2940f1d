/** Bits in the table of ids seen in the current window (512 KB); a power of two, so an index is a mask of a hash. */
const SEEN_BITS = 1 << 22;

/**
 * Counts requests per id in fixed windows, in this process only: a guard against one client hammering one key,
 * not a global rate limit.
 *
 * An id's first request in a window only sets two bits in a fixed table (a Bloom filter); only an id seen before gets
 * a count in a map. Most keys are hit once, so a flood of new keys costs no map entry and nothing for the garbage
 * collector: a map entry per id cost about 2 µs per new key and kept every id alive until its window ended. An id
 * whose two bits other ids happened to set (about 2% of ids while 300,000 new keys arrive in one window) is counted
 * once more than it was hit. The table and the map are cleared when the window turns.
 */
export interface RateLimiter {
  /** Counts one hit; returns 0 when allowed, or the ms until the window resets when over the limit. */
  hit(id: string, now: number): number;
}

/** A limiter of `max` hits per id per `window` ms. */
export function createRateLimiter(max: number, window: number): RateLimiter {
  let seen: Int32Array | undefined;
  let counts = new Map<string, number>();
  let resetAt = 0;
  return {
    hit(id, now) {
      seen ??= new Int32Array(SEEN_BITS >>> 5);
      if (now >= resetAt) {
        seen.fill(0);
        counts = new Map();
        resetAt = now + window;
      }
      const hash = fnv1a(id);
      const first = mix(hash) & (SEEN_BITS - 1);
      const second = mix(hash ^ 0x9e3779b9) & (SEEN_BITS - 1);
      const firstBit = 1 << (first & 31);
      const secondBit = 1 << (second & 31);
      if ((seen[first >>> 5]! & firstBit) === 0 || (seen[second >>> 5]! & secondBit) === 0) {
        seen[first >>> 5]! |= firstBit;
        seen[second >>> 5]! |= secondBit;
        return 0; // `max` is at least 1
      }
      const count = (counts.get(id) ?? 1) + 1;
      counts.set(id, count);
      return count > max ? resetAt - now : 0;
    },
  };
}

/** 32-bit FNV-1a over the id's UTF-16 code units. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash;
}

/** MurmurHash3's finaliser: FNV's low bits depend only on the low bits of each step, and the index uses them. */
function mix(hash: number): number {
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}
