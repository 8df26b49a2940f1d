import type { GuardInput } from "../../src/adapter/index.js";

/** A JSON `POST /orders` carrying `key`, as an adapter hands it to the engine's `begin`. */
export const guardInput = (key: string, body = '{"a":1}'): GuardInput => ({
  method: "POST",
  path: "/orders",
  query: "",
  headers: { "idempotency-key": key, "content-type": "application/json" },
  body: new TextEncoder().encode(body),
  raw: undefined,
});
