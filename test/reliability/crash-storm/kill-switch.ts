import { appendFileSync } from "node:fs";
import type { KillPoint } from "./protocol.js";
import { killLogPath } from "./window-log.js";

/**
 * The worker's side of a deliberate kill: the chaos loop arms one point over IPC, and the first request to reach it
 * writes one line to the kill log and sends this process SIGKILL. Nothing after `die` runs: no `finally`, no exit
 * handler, no flush; the kernel closes the sockets, as for any kill -9.
 */
export function killSwitch(logDir: string) {
  let armed: KillPoint | undefined;
  return {
    /** The slot this process serves, once it does. */
    slot: -1,
    arm(point: KillPoint) {
      armed = point;
    },
    disarm() {
      armed = undefined;
    },
    /** Dies here if this point is armed. */
    at(point: KillPoint, key: string) {
      if (armed !== point) return;
      appendFileSync(killLogPath(logDir), `${JSON.stringify({ pid: process.pid, slot: this.slot, point, key })}\n`);
      process.kill(process.pid, "SIGKILL");
    },
  };
}

export type KillSwitch = ReturnType<typeof killSwitch>;
