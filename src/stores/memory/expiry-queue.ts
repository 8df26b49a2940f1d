/**
 * Record ids ordered by when they may expire: a binary min-heap kept in two parallel arrays (times as unboxed doubles,
 * ids as the strings the store already holds), so it costs 16 bytes per record and no object of its own.
 *
 * The store pushes an id when it creates a record and again only when a record's expiry moves earlier than its queued
 * time; an expiry that moves later leaves the entry where it is, to be pushed again when it comes up early. Entries
 * whose record is gone or was queued again elsewhere are dropped when they come up (the store tells which by the time
 * it queued each record at). Times of one ttl arrive in order, so a push is usually a single comparison.
 */
export class ExpiryQueue {
  readonly #at: number[] = [];
  readonly #ids: string[] = [];

  /** How many entries are queued, stale ones included. */
  get length(): number {
    return this.#at.length;
  }

  /** The earliest queued time, or `Infinity` when empty. */
  get nextAt(): number {
    return this.#at.length === 0 ? Number.POSITIVE_INFINITY : this.#at[0]!;
  }

  /** The id of the earliest entry; call only when `length > 0`. */
  get nextId(): string {
    return this.#ids[0]!;
  }

  push(id: string, at: number): void {
    const times = this.#at;
    const ids = this.#ids;
    let index = times.length;
    times.push(at);
    ids.push(id);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (times[parent]! <= at) break;
      times[index] = times[parent]!;
      ids[index] = ids[parent]!;
      index = parent;
    }
    times[index] = at;
    ids[index] = id;
  }

  /** Removes the earliest entry; call only when `length > 0`. */
  pop(): void {
    const times = this.#at;
    const ids = this.#ids;
    const lastAt = times.pop()!;
    const lastId = ids.pop()!;
    const size = times.length;
    if (size === 0) return;
    let index = 0;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= size) break;
      if (child + 1 < size && times[child + 1]! < times[child]!) child += 1;
      if (times[child]! >= lastAt) break;
      times[index] = times[child]!;
      ids[index] = ids[child]!;
      index = child;
    }
    times[index] = lastAt;
    ids[index] = lastId;
  }
}
