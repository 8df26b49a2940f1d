import type { IdempotencyRequest } from "./request.js";
import type { ResponseData } from "./response.js";
import type { StoredResponse } from "./store.js";

/** What an `onReplay` hook receives: the stored response and the request it answers. */
export interface Replay<Raw = unknown> {
  /**
   * The stored response, as a copy: status, headers (lower-case names, in order) and body bytes, as stored (still
   * compressed if the handler compressed it). Changing it changes nothing stored.
   */
  response: ResponseData;
  /** The retry being answered, in oncely's normalised shape (`raw` is the framework's own request). */
  request: IdempotencyRequest<Raw>;
  /** The retry's Idempotency-Key. */
  key: string;
  /** The route's name in events (`route` option, or method and path). */
  route: string;
  /** When the record expires (ms since the epoch): until then, this key answers with this same stored response. */
  expiresAt: number;
}

/** `onReplay`: returns the response to send for this replay, or nothing to send the stored one as it is. */
export type ReplayHook<Raw = unknown> = (
  replay: Replay<Raw>,
) => ResponseData | undefined | Promise<ResponseData | undefined>;

/**
 * The response a replay sends: the user's hook (if any) runs on a copy of the stored response, so every replay
 * starts again from the stored original; `Idempotent-Replayed: true` is added after it, so a client can always tell.
 */
export async function replayAnswer(
  stored: StoredResponse,
  hook: ReplayHook | undefined,
  replay: Omit<Replay, "response">,
  extraHeaders: [string, string][],
): Promise<ResponseData> {
  let response: ResponseData = { status: stored.status, headers: stored.headers, body: stored.body };
  if (hook) {
    const copy = { status: stored.status, headers: stored.headers.map(copyPair), body: stored.body.slice() };
    response = (await hook({ ...replay, response: copy })) ?? copy;
    checkResponse(response);
  }
  return {
    status: response.status,
    headers: [...response.headers, ...extraHeaders, ["idempotent-replayed", "true"]],
    body: response.body,
  };
}

function copyPair([name, value]: [string, string]): [string, string] {
  return [name, value];
}

/** A hook's answer goes to the client as it is: check its shape here rather than fail inside an adapter. */
function checkResponse(response: ResponseData): void {
  const { status, headers, body } = response as Partial<ResponseData>;
  if (
    !Number.isInteger(status) ||
    (status as number) < 200 ||
    (status as number) > 599 ||
    !Array.isArray(headers) ||
    !headers.every((pair) => Array.isArray(pair) && typeof pair[0] === "string" && typeof pair[1] === "string") ||
    !(body instanceof Uint8Array)
  ) {
    throw new TypeError(
      "Expected `onReplay` to return nothing or { status: 200-599, headers: [name, value][], body: Uint8Array }",
    );
  }
}
