import type { Answer } from "./load.js";
import type { Execution, HandlerBody } from "./protocol.js";

/** What an answer says happened: the handler ran for it, it replayed a stored run, or it met a run in flight. */
export type Kind = "executed" | "replayed" | "in-flight" | `other ${string}`;

export function kindOf(answer: Answer): Kind {
  if (answer.status === 201 && !answer.replayed) return "executed";
  if (answer.status === 201 && answer.replayed) return "replayed";
  const code = problemCode(answer.body);
  if (answer.status === 409 && code === "in_flight") return "in-flight";
  return `other ${answer.status}${answer.replayed ? " replayed" : ""} ${code ?? answer.body.slice(0, 120)}`;
}

function problemCode(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { code?: string }).code;
  } catch {
    return undefined;
  }
}

/** How many answers of each kind, and how many 503s the requests retried before them (when any did). */
export function tally(answers: readonly Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  let retried503 = 0;
  for (const answer of answers) {
    const kind = kindOf(answer);
    counts[kind] = (counts[kind] ?? 0) + 1;
    retried503 += answer.retried503;
  }
  if (retried503 > 0) counts["503 retried"] = retried503;
  return counts;
}

/** Runs of the handler per key, over every worker's log. */
export function executionsByKey(executions: readonly Execution[]): Map<string, Execution[]> {
  const byKey = new Map<string, Execution[]>();
  for (const execution of executions) {
    const runs = byKey.get(execution.key);
    if (runs) runs.push(execution);
    else byKey.set(execution.key, [execution]);
  }
  return byKey;
}

/**
 * Checks one key's answers against the run that produced them: exactly one answer executed, and its body names the
 * process that ran the handler; every other answer met the run in flight (409) or replays that body byte for byte.
 * Returns what is wrong, as sentences (empty when all is well).
 */
export function checkAnswers(key: string, answers: readonly Answer[], run: Execution | undefined): string[] {
  const problems: string[] = [];
  const executed = answers.filter((answer) => kindOf(answer) === "executed");
  if (executed.length !== 1) problems.push(`${key}: ${executed.length} answers ran the handler, expected 1`);
  const original = executed[0]?.body;
  if (original !== undefined && run !== undefined) {
    const body = JSON.parse(original) as HandlerBody;
    if (body.key !== key || body.pid !== run.pid) {
      problems.push(`${key}: the executed answer ${original} does not match the logged run in pid ${run.pid}`);
    }
  }
  for (const answer of answers) {
    const kind = kindOf(answer);
    if (kind === "replayed" && answer.body !== original) {
      problems.push(`${key}: worker ${answer.worker} replayed ${answer.body}, but the run answered ${original}`);
    } else if (kind.startsWith("other")) {
      problems.push(`${key}: worker ${answer.worker} answered ${kind}`);
    }
  }
  return problems;
}
