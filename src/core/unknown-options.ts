/**
 * Refuses option names a function does not know. A typo (`prefx`, `tabel`) would otherwise fall back to the default
 * silently, and a default table or prefix can share its key space with another app.
 *
 * @param owner what the options are for, as the message should name it (`RedisStore`, `idempotency`)
 * @throws {TypeError} naming the first unknown option, with the closest known name when one is near
 */
export function rejectUnknownOptions(owner: string, options: object, known: Iterable<string>): void {
  const names = [...known];
  for (const name of Object.keys(options)) {
    if (names.includes(name)) continue;
    const near = closest(name, names);
    throw new TypeError(`Unknown ${owner} option \`${name}\`${near ? `; did you mean \`${near}\`?` : ""}`);
  }
}

/** The known name within a small edit distance (a third of its length, at least 1), ignoring case. */
function closest(name: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of names) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance && distance <= Math.max(1, Math.floor(candidate.length / 3))) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * Edit distance where an insertion, a deletion, a substitution or a swap of two neighbouring characters each cost 1
 * (optimal string alignment): `tabel` is one slip from `table`, as a typist makes it.
 */
function editDistance(a: string, b: string): number {
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitute = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      let distance = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitute);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, (beforePrevious[j - 2] ?? 0) + 1);
      }
      current.push(distance);
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[b.length] ?? 0;
}
