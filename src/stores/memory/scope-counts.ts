/**
 * How many records each scope holds, for `maxEntriesPerScope`. Records without a scope count as one scope together.
 * A scope's entry goes when its last record does, so the map holds only scopes with records.
 */
export class ScopeCounts {
  readonly #counts = new Map<string, number>();

  count(scope: string | undefined): number {
    return this.#counts.get(scope ?? "") ?? 0;
  }

  add(scope: string | undefined): void {
    const key = scope ?? "";
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  remove(scope: string | undefined): void {
    const key = scope ?? "";
    const count = this.#counts.get(key) ?? 0;
    if (count <= 1) this.#counts.delete(key);
    else this.#counts.set(key, count - 1);
  }
}
