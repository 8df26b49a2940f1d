import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { Fleet, Slot } from "./fleet.js";
import { KILL_POINTS, type KillKind, type KillPoint } from "./protocol.js";
import { killLogPath } from "./window-log.js";

/** One process death during the storm, and what caused it. */
export interface Death {
  pid: number;
  slot: number;
  /** An armed point (from the kill log), `random` (the loop's own kill -9), or `unexpected` (neither: a crash). */
  kind: KillKind | "unexpected";
  /** For an unexpected death: the exit code or signal. */
  exit?: string;
}

export interface ChaosOptions {
  /** The pause before each slot's next kill, ms, drawn uniformly from this range. */
  gap: [number, number];
  /** How long an armed point may wait for a request to reach it before it is disarmed, ms. */
  armTimeout: number;
  /** Share of kills sent by the loop at a random moment, rather than at an armed point. */
  randomShare: number;
  /** Slots kept alive: a slot does not kill while fewer than this many others are up. */
  minLive: number;
  logDir: string;
}

/**
 * The chaos loop: for every slot, over and over, waits a random gap, then either arms a random kill point (the
 * next request to reach it dies there) or sends kill -9 itself at once, waits for the process to end and restarts it
 * on the same port. Runs until `stop()`, which waits for every slot to be up again.
 */
export function startChaos(fleet: Fleet, options: ChaosOptions) {
  const deaths: Death[] = [];
  const randomKills = new Set<number>();
  let running = true;
  let failure: unknown;

  async function exitOf(child: ChildProcess): Promise<string> {
    if (child.exitCode !== null || child.signalCode !== null) return String(child.signalCode ?? child.exitCode);
    const [code, signal] = (await once(child, "exit")) as [number | null, string | null];
    return String(signal ?? code);
  }

  async function killOnce(slot: Slot): Promise<void> {
    // The replacement is warm before the kill, so it takes the port at once: a slot down for a whole process start
    // would only measure how slowly a loaded machine starts Node.
    const spare = await fleet.reserve();
    const child = slot.child;
    const pid = slot.pid;
    if (!running || !child || pid === undefined) {
      fleet.unreserve(spare);
      return;
    }
    if (Math.random() < options.randomShare) {
      randomKills.add(pid);
      child.kill("SIGKILL");
    } else {
      const point: KillPoint = KILL_POINTS[Math.floor(Math.random() * KILL_POINTS.length)]!;
      fleet.arm(slot, point);
      const exited = exitOf(child).then(() => true);
      if (!(await Promise.race([exited, sleep(options.armTimeout).then(() => false)]))) {
        fleet.send(slot, { type: "disarm" });
        // A request may have reached the point as the disarm was on its way: then the process is dying already.
        if (!(await Promise.race([exited, sleep(200).then(() => false)]))) {
          fleet.unreserve(spare);
          return;
        }
      }
    }
    const exit = await exitOf(child);
    deaths.push({ pid, slot: slot.index, kind: randomKills.has(pid) ? "random" : "unexpected", exit });
    await fleet.restart(slot, spare);
  }

  async function loop(slot: Slot): Promise<void> {
    while (running) {
      const [low, high] = options.gap;
      await sleep(low + Math.random() * (high - low));
      if (!running) break;
      if (!slot.child) {
        // Died with nobody killing it: a crash, which the storm reports as a failure. Bring the slot back.
        deaths.push({ pid: slot.pid!, slot: slot.index, kind: "unexpected", exit: slot.exit });
        await fleet.restart(slot);
        continue;
      }
      if (fleet.live().filter((other) => other !== slot).length < options.minLive) continue;
      await killOnce(slot);
    }
  }

  const loops = fleet.slots.map((slot) =>
    loop(slot).catch((error) => {
      failure ??= error;
    }),
  );

  return {
    /** Deaths so far (kinds of armed kills are settled by `stop`, from the kill log). */
    count: () => deaths.length,
    /** Ends the loop; resolves with every death, each armed one named by the point it died at. */
    async stop(): Promise<Death[]> {
      running = false;
      await Promise.all(loops);
      if (failure) throw failure;
      for (const slot of fleet.slots) {
        if (slot.child) continue;
        deaths.push({ pid: slot.pid!, slot: slot.index, kind: "unexpected", exit: slot.exit });
        await fleet.restart(slot);
      }
      const armed = new Map<number, KillPoint>();
      let log = "";
      try {
        log = readFileSync(killLogPath(options.logDir), "utf8");
      } catch {
        // No armed kill fired.
      }
      for (const line of log.split("\n")) {
        if (line === "") continue;
        const { pid, point } = JSON.parse(line) as { pid: number; point: KillPoint };
        armed.set(pid, point);
      }
      for (const death of deaths) {
        const point = armed.get(death.pid);
        if (point && death.kind !== "random") {
          death.kind = point;
          delete death.exit;
        }
      }
      return deaths;
    },
  };
}
