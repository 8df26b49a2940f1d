import {
  MemoryStore,
  type StoredResponse,
  StoreError,
  type TransactionalClaimOptions,
  type TransactionalClaimResult,
  type TransactionalStore,
} from "../../src/index.js";

/**
 * A transactional store over the memory store whose commits fail while `failCommits` is set (the claim is then
 * undone, as a rolled-back transaction undoes it). It drives an adapter's "the outcome was undone: send the engine's
 * response instead of the handler's" path without a database; the PostgreSQL store's real transactions are tested
 * in test/stores/postgres-transactional.test.ts.
 */
export class FailingCommitStore extends MemoryStore implements TransactionalStore {
  failCommits = false;
  /** Claims made so far, so a test can wait until concurrent requests have all reached the store. */
  claims = 0;

  override claim(...args: Parameters<MemoryStore["claim"]>): ReturnType<MemoryStore["claim"]> {
    this.claims++;
    return super.claim(...args);
  }

  async claimInTransaction(
    id: string,
    fingerprint: string,
    options: TransactionalClaimOptions,
  ): Promise<TransactionalClaimResult> {
    const result = await this.claim(id, fingerprint, options);
    if (result.status !== "claimed") return result;
    const { token } = result;
    return {
      ...result,
      transaction: {
        client: undefined,
        commit: async (response: StoredResponse, ttl: number) => {
          if (this.failCommits) {
            await this.release(id, token);
            throw new StoreError(this.name, "commit", "failed: the transaction was rolled back");
          }
          await this.complete(id, token, response, ttl);
        },
        rollback: async () => {
          await this.release(id, token);
        },
      },
    };
  }
}
