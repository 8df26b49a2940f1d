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
