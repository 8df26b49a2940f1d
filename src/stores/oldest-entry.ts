/**
 * The oldest entry of an insertion-ordered Map that is still there, in amortised constant time.
 *
 * V8 leaves a deleted Map entry as a hole until it rebuilds the table, and a new iterator walks every hole before the
 * first live entry. A store that evicts from the front and asks `map.entries().next()` for each eviction walks more
 * holes every time (a full MemoryStore of 100,000 records spent more on that than on the rest of a claim). One
 * iterator kept across calls only ever moves forward.
 */
export class OldestEntry<K, V> {
  #iterator?: Iterator<[K, V]>;
  #head?: [K, V];

  constructor(readonly map: Map<K, V>) {}

  /**
   * The oldest entry whose key still maps to the same value. An entry deleted and set again moves to the end, where
   * the iterator meets it again in its new place; if it was the one last returned and comes back with the same value,
   * it is taken for the oldest at once.
   */
  get(): [K, V] | undefined {
    for (;;) {
      const head = this.#head;
      if (head && this.map.get(head[0]) === head[1]) return head;
      this.#iterator ??= this.map.entries();
      const next = this.#iterator.next();
      if (next.done) {
        // An iterator that has finished never yields again, not even entries added later.
        this.#iterator = undefined;
        this.#head = undefined;
        return undefined;
      }
      this.#head = next.value;
    }
  }
}
