/**
 * What an adapter's `readBody` throws when the client closed the connection before its request body arrived whole.
 * Nothing is wrong with the app or with oncely, and nobody is left to answer: the engine claims nothing, runs no
 * handler, and emits `client-aborted` (a warning) instead of `check-failed` (an error). Internal to the adapters
 * and the engine; no client ever sees it.
 */
export class ClientAbortedError extends Error {
  override readonly name = "ClientAbortedError";

  constructor(cause: unknown) {
    super("The client closed the connection before its request body was read", { cause });
  }
}
