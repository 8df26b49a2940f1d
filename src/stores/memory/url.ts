import { StoreUrlError } from "../shared/store-url.js";

/** `memory:`: an empty in-process store; nothing may follow the scheme. */
export function parseMemoryUrl(url: string): Record<string, never> {
  const rest = url.slice(url.indexOf(":") + 1);
  if (rest !== "" && rest !== "//")
    throw new StoreUrlError(url, 'memory: takes nothing after the scheme; write "memory:"');
  return {};
}
