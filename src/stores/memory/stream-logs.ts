/**
 * The stream logs of a `MemoryStore` (`stream: true` routes): per record, the entries of the one run that appended
 * last, and the followers waiting for its next append. A run with another token starts a new log, so no follower of
 * one run reads another's entries.
 */
export class StreamLogs {
  readonly #logs = new Map<string, { token: number; entries: Uint8Array[] }>();
  readonly #waiters = new Map<string, Set<() => void>>();

  append(id: string, token: number, entries: readonly Uint8Array[]): void {
    let log = this.#logs.get(id);
    if (log === undefined || log.token !== token) {
      log = { token, entries: [] };
      this.#logs.set(id, log);
    }
    // Copies: the caller may reuse its buffers, and a reader must not see them change.
    for (const entry of entries) log.entries.push(entry.slice());
    this.wake(id);
  }

  /** The entries of run `token` from `from` on (none when another run, or none, has a log). */
  read(id: string, token: number, from: number): Uint8Array[] {
    const log = this.#logs.get(id);
    return log === undefined || log.token !== token ? [] : log.entries.slice(from);
  }

  /** Resolves at the record's next append, completion or release, or after `wait` ms. */
  next(id: string, wait: number): Promise<void> {
    return new Promise((resolve) => {
      let waiters = this.#waiters.get(id);
      if (waiters === undefined) {
        waiters = new Set();
        this.#waiters.set(id, waiters);
      }
      const timer = setTimeout(() => done(), wait);
      timer.unref?.();
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.#waiters.get(id) === waiters) this.#waiters.delete(id);
        resolve();
      };
      waiters.add(done);
    });
  }

  /** Wakes the record's waiting followers: something they read changed. */
  wake(id: string): void {
    const waiters = this.#waiters.get(id);
    if (waiters) for (const done of [...waiters]) done();
  }

  delete(id: string): void {
    this.#logs.delete(id);
    this.wake(id);
  }
}
