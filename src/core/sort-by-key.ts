/**
 * Sorts `items` in place by `key` (UTF-16 code units, as `Array.prototype.sort` compares strings), stably. Up to 16
 * items are sorted by insertion: `Array.prototype.sort` allocates about 0.9 kB of work space per call whatever the
 * length, which was the largest allocation of a small JSON body's fingerprint.
 */
export function sortByKey<T>(items: T[], key: (item: T) => string): T[] {
  if (items.length > 16) return items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  for (let i = 1; i < items.length; i++) {
    const item = items[i]!;
    const itemKey = key(item);
    let j = i - 1;
    for (; j >= 0 && key(items[j]!) > itemKey; j--) items[j + 1] = items[j]!;
    items[j + 1] = item;
  }
  return items;
}
