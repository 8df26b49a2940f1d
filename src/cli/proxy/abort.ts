import { EventEmitter } from "node:events";

/**
 * What aborts one upstream request (a drain that stops waiting, a client that went away). undici takes an emitter
 * of `abort` as its signal; unlike an AbortController it builds no DOMException per request, which shows on this path.
 */
export class RequestAbort extends EventEmitter {
  aborted = false;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit("abort");
  }
}
