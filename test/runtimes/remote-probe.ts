import type { IdempotencyEvent } from "../../src/index.js";
import type { SemanticsProbe } from "../http/semantics-app.js";
import { PROBE_PATH } from "./semantics-handler.js";

/** The probe of a semantics app served in another runtime (see semantics-handler.ts), called over HTTP. */
export function remoteProbe(url: string): SemanticsProbe {
  const call = async <T>(method: keyof SemanticsProbe, ...args: unknown[]): Promise<T> => {
    const response = await fetch(`${url}${PROBE_PATH}${method}`, { method: "POST", body: JSON.stringify(args) });
    if (!response.ok) throw new Error(`probe ${method} answered ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { value: T }).value;
  };
  return {
    // JSON has no undefined: a route that never ran comes back as null.
    runs: async (name) => (await call<number | null>("runs", name)) ?? undefined,
    events: () => call<IdempotencyEvent[]>("events"),
    openGate: () => call("openGate"),
    resetGate: () => call("resetGate"),
    failCommits: (fail) => call("failCommits", fail),
    claims: () => call<number>("claims"),
    replaysSeen: () => call("replaysSeen"),
    storedText: () => call("storedText"),
    close: () => call("close"),
  };
}
