import { appendFileSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Which effects a process had started but not yet stored when it died. Each worker appends, synchronously, one line
 * per step to `window-<pid>.log`: `+ <key> <effect>` just before it writes the effect, `- <key>` once `complete` (or
 * the commit) returned, `! <key>` when `complete` was fenced out. A synchronous append reaches the kernel before the
 * call returns, so the file says what was open at the moment of a kill -9, whoever sent it.
 */
export function windowLogPath(dir: string, pid: number): string {
  return join(dir, `window-${pid}.log`);
}

/** The worker's side: opens and closes windows in its own file. */
export function windowWriter(dir: string, pid: number) {
  const path = windowLogPath(dir, pid);
  return {
    open: (key: string, effect: string) => appendFileSync(path, `+ ${key} ${effect}\n`),
    close: (key: string) => appendFileSync(path, `- ${key}\n`),
    fenced: (key: string) => appendFileSync(path, `! ${key}\n`),
  };
}

/** An effect a process had written, or was writing, when it was killed before storing its outcome. */
export interface OpenWindow {
  pid: number;
  key: string;
  effect: string;
}

/** What one process's log says: the windows still open at its end, and the keys whose `complete` was fenced. */
export function readWindowLog(dir: string, pid: number): { open: OpenWindow[]; fenced: string[] } {
  let text: string;
  try {
    text = readFileSync(windowLogPath(dir, pid), "utf8");
  } catch {
    return { open: [], fenced: [] };
  }
  const open = new Map<string, string>();
  const fenced: string[] = [];
  for (const line of text.split("\n")) {
    const [mark, key, effect] = line.split(" ");
    if (key === undefined) continue;
    if (mark === "+") open.set(key, effect!);
    else if (mark === "-") open.delete(key);
    else if (mark === "!") {
      open.delete(key);
      fenced.push(key);
    }
  }
  return { open: [...open].map(([key, effect]) => ({ pid, key, effect })), fenced };
}

/** Every pid that wrote a window log in `dir`. */
export function loggedPids(dir: string): number[] {
  return readdirSync(dir)
    .map((name) => /^window-(\d+)\.log$/.exec(name)?.[1])
    .filter((pid): pid is string => pid !== undefined)
    .map(Number);
}

/** The kill log: one JSON line per self-inflicted kill, written just before the `SIGKILL`. */
export function killLogPath(dir: string): string {
  return join(dir, "kills.log");
}
