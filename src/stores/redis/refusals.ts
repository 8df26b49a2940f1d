/**
 * The answers with which a Redis Cluster refuses a command before running any of it, and the store's retry of them.
 *
 * A node checks where a command's keys live before it runs the command: `MOVED` (another node serves the slot),
 * `ASK` (the slot is being migrated and its keys are not all here), `TRYAGAIN` (a command of several keys whose keys
 * are split between the two nodes of a slot being migrated, or not all created yet: a claim of a new id, whose record
 * does not exist, is refused on both nodes for the whole migration of its slot) and `CLUSTERDOWN`. The store's
 * scripts answer `TRYAGAIN` of their own, before their first write, when a key they read undeclared has moved. ioredis
 * follows such answers up to its `maxRedirections` (16 by default, `retryDelayOnTryAgain` apart, 100 ms) and then
 * fails with "Too many Cluster redirections. Last error: ...".
 *
 * `NOSCRIPT` too: the node ran nothing. ioredis counts a script as loaded on a connection once it has written the
 * script's EVAL there, even when the node refused that EVAL (ASK, MOVED, TRYAGAIN, all common while a slot moves)
 * and so never loaded it; its next call there is an EVALSHA, answered NOSCRIPT. ioredis sends that call again once,
 * as an EVAL, and forgets the connections the failed call went through; a resend that a redirection takes to a third
 * such connection fails with NOSCRIPT (2 claims in 33 runs of the resharding test). Sent again, the script goes out
 * as an EVAL where those calls failed.
 *
 * A refused script did not run, so sending it again, later, is the same as sending it once, later: retrying adds no
 * execution. (Should an earlier send of the same command have run and lost its reply, as ioredis resends a command
 * after a closed connection, running it again grants nothing twice: a claim finds its own live claim and answers
 * `in-flight`, and a fenced write finds its token no longer holding an in-flight claim and answers that it did not
 * write.) Any other failure (a timeout, a closed connection, an error inside a script) is not retried: the script may
 * have run.
 */

const REFUSAL =
  /^(?:Too many Cluster redirections\. Last error: ReplyError: )?(?:TRYAGAIN|ASK|MOVED|CLUSTERDOWN|NOSCRIPT) /;

/** Whether `error` is a Cluster's refusal of a command it did not run. */
export function refusedBeforeRunning(error: unknown): boolean {
  return REFUSAL.test((error as Error)?.message ?? "");
}

/** The first pause after a refusal; each next one doubles, up to `MAX_PAUSE_MS`. */
const FIRST_PAUSE_MS = 10;
const MAX_PAUSE_MS = 100;

/**
 * Sends a command until it is not refused, pausing between sends, while the operation's `deadline` (a
 * `performance.now()` time) leaves room for the next pause; then fails with the last refusal.
 */
export async function untilNotRefused<T>(deadline: number, send: () => Promise<T>): Promise<T> {
  for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(pause * 2, MAX_PAUSE_MS)) {
    try {
      return await send();
    } catch (error) {
      if (!refusedBeforeRunning(error) || performance.now() + pause >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}
