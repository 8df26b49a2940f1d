/**
 * A low-cardinality name for an error, for `error.type`: its string `code` (oncely's stable codes such as
 * `store_unavailable`, Node's `ECONNREFUSED`), else its class name, else `_OTHER` (OpenTelemetry's fallback).
 */
export function errorType(error: unknown): string {
  if (error !== null && typeof error === "object") {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === "string" && code !== "") return code;
    if (typeof name === "string" && name !== "") return name;
  }
  return "_OTHER";
}
