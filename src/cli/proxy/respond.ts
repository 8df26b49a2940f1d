import type { ServerResponse } from "node:http";
import { sendNodeResponse } from "../../adapters/shared/node-response.js";
import type { OncelyError } from "../../core/errors.js";
import { problemResponse } from "../../core/response.js";

/** Answers with the engine's problem+json for `error`, unless an answer has already begun (then drops it). */
export function sendProblem(res: ServerResponse, error: OncelyError, path?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendNodeResponse(res, problemResponse(error, path));
}

/** Answers 200/503 with a small JSON document (the health endpoint). */
export function sendJson(res: ServerResponse, status: number, value: unknown, head: boolean): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, {
    "content-type": "application/json",
    "cache-control": "no-store",
    "content-length": String(body.byteLength),
  });
  res.end(head ? undefined : body);
}
