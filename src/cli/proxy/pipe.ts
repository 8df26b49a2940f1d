import type { ServerResponse } from "node:http";
import type { Readable } from "node:stream";

/**
 * Pipes a response body to the client; resolves when the client has it all, rejects when either side fails or the
 * client goes away (the body is then destroyed, which aborts the upstream request). Not `stream.pipeline`: it aborts
 * an AbortController of its own on every success, and the DOMException that builds shows on this path.
 */
export function pipeTo(body: Readable, res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (error?: unknown) => {
      body.destroy();
      reject(error ?? new Error("the client went away"));
    };
    body.once("error", fail);
    res.once("error", fail);
    res.once("close", () => (res.writableFinished ? resolve() : fail()));
    body.pipe(res);
  });
}
