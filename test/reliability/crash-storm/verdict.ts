import type { Death } from "./chaos.js";
import type { Outcome } from "./driver.js";
import type { EffectRow } from "./ledger.js";
import { type EffectBody, KILL_POINTS } from "./protocol.js";
import { type OpenWindow, readWindowLog } from "./window-log.js";

/** What one store's storm came to, counted from the ledger, the window logs and the client's answers. */
export interface Verdict {
  intents: number;
  /** Deaths by cause: each kill point, `random`, and `unexpected` (a crash nobody caused). */
  kills: Record<string, number>;
  totalKills: number;
  /** Intents without a final 2xx answer (the call threw, or ended on another status), as sentences. */
  unanswered: string[];
  /** Intents whose answered effect is not in the ledger, as sentences. */
  lost: string[];
  /** Ledger rows beyond the first, summed over keys. */
  duplicates: number;
  /** Effects written (or being written) by a killed process before their outcome was stored. */
  openWindows: number;
  /** Kills that caught at least one such effect. */
  windowKills: number;
  /** Duplicate rows not explained by an open window of a killed process, as sentences. */
  unexplained: string[];
  /** `complete` calls fenced out (the lease lapsed under a live holder). */
  fenced: number;
  /** Ledger rows for keys no intent used. */
  strays: number;
}

export function judge(
  outcomes: readonly Outcome[],
  rows: readonly EffectRow[],
  deaths: readonly Death[],
  logDir: string,
  allPids: readonly number[],
): Verdict {
  const kills: Record<string, number> = Object.fromEntries([...KILL_POINTS, "random", "unexpected"].map((k) => [k, 0]));
  for (const death of deaths) kills[death.kind] = (kills[death.kind] ?? 0) + 1;

  const byKey = new Map<string, EffectRow[]>();
  for (const row of rows) {
    const list = byKey.get(row.key);
    if (list) list.push(row);
    else byKey.set(row.key, [row]);
  }

  // The windows that were open when a process was killed, by key and effect.
  const open = new Map<string, OpenWindow>();
  let windowKills = 0;
  for (const death of deaths) {
    const { open: windows } = readWindowLog(logDir, death.pid);
    if (windows.length > 0) windowKills++;
    for (const window of windows) open.set(`${window.key} ${window.effect}`, window);
  }
  let fenced = 0;
  for (const pid of allPids) fenced += readWindowLog(logDir, pid).fenced.length;

  const unanswered: string[] = [];
  const lost: string[] = [];
  const unexplained: string[] = [];
  let duplicates = 0;
  const keys = new Set<string>();
  for (const outcome of outcomes) {
    const effects = outcome.key === undefined ? [] : (byKey.get(outcome.key) ?? []);
    if (outcome.key !== undefined) keys.add(outcome.key);
    duplicates += Math.max(0, effects.length - 1);
    const ok = outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300;
    if (!ok) {
      unanswered.push(
        `intent ${outcome.intent} (key ${outcome.key}): ${outcome.error ?? `${outcome.status} ${outcome.body?.slice(0, 200)}`}`,
      );
      continue;
    }
    const answered = JSON.parse(outcome.body!) as EffectBody;
    if (answered.key !== outcome.key || answered.intent !== outcome.intent) {
      unanswered.push(`intent ${outcome.intent}: answered with another intent's body ${outcome.body}`);
    }
    if (!effects.some((row) => row.effect === answered.effect)) {
      lost.push(
        `intent ${outcome.intent} (key ${outcome.key}): answered effect ${answered.effect} is not in the ledger`,
      );
    }
    for (const row of effects) {
      if (row.effect === answered.effect) continue;
      if (!open.has(`${row.key} ${row.effect}`)) {
        unexplained.push(
          `intent ${outcome.intent}: effect ${row.effect} (pid ${row.pid}) ran besides the answered ${answered.effect}, ` +
            "and no kill caught it before its outcome was stored",
        );
      }
    }
  }
  const strays = rows.filter((row) => !keys.has(row.key)).length;
  return {
    intents: outcomes.length,
    kills,
    totalKills: deaths.length,
    unanswered,
    lost,
    duplicates,
    openWindows: open.size,
    windowKills,
    unexplained,
    fenced,
    strays,
  };
}
