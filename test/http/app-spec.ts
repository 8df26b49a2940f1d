import type { IdempotencyContext, RouteOptions } from "../../src/index.js";

/** What a test route's handler gets, whatever the framework: the body it read and the idempotency context. */
export interface SpecRequest {
  body: Uint8Array;
  context: IdempotencyContext | undefined;
}

export interface SpecResponse {
  status: number;
  headers: [string, string][];
  body: Uint8Array | string;
}

export interface RouteSpec {
  method: "GET" | "POST" | "PATCH" | "PUT";
  path: string;
  options?: RouteOptions;
  handle: (request: SpecRequest) => Promise<SpecResponse>;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/** Each adapter's test mounts these routes in its framework's own idiom and serves them on a real socket. */
export type StartServer = (
  idem: import("../../src/index.js").Idempotency,
  routes: RouteSpec[],
) => Promise<RunningServer>;

/**
 * What an integration can offer the code behind it. The semantics suite skips only the cases that need what an
 * integration cannot offer, and says so in the test name; every other case runs unchanged.
 */
export interface HttpCapabilities {
  /**
   * The handler receives the idempotency context (`skipStore()`, `recovered`). False for `oncely proxy`: the handler
   * is an upstream server in another process, which never sees the engine.
   * @default true
   */
  handlerContext?: boolean;
  /**
   * Routes may be `transactional`. False for `oncely proxy`: the upstream's own writes cannot join the store's
   * transaction, so the proxy refuses the option rather than pretend the outcome is atomic.
   * @default true
   */
  transactional?: boolean;
  /**
   * The fingerprint sees the request body's bytes. False where the framework always parses the body before oncely
   * can see it (Nest without `rawBody: true`): then bodies that parser reads as one value (a repeated key, digits
   * past a double's precision) fingerprint alike, which is safe because the handler reads that same value.
   * @default true
   */
  bodyBytes?: boolean;
}
