/**
 * What an adapter's `readBody` throws when the client closed the connection before its request body arrived whole.
 * Nothing is wrong with the app or with oncely, and nobody is left to answer: the engine claims nothing, runs no
 * handler, and emits `client-aborted` (a warning) instead of `check-failed` (an error). The engine knows it by its
 * `name` (see `isClientAborted` in core/guard.ts), so the class and its text stay out of the core's bundle. No client
 * ever sees it.
 */
export class ClientAbortedError extends Error {
  override readonly name = "ClientAbortedError";

  constructor(cause: unknown) {
    // The event's reason, as it is written to the log.
    super("the client closed the connection before its request body was read", { cause });
  }
}
