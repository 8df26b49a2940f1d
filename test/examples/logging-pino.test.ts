import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { logDecisionsWithPino } from "../../examples/logging/pino.js";
import { createIdempotency } from "../../src/index.js";
import { type DecisionApp, driveEveryDecision, startDecisionApp } from "../support/decision-app.js";
import { expectDecisionLines } from "./decision-lines.js";

describe("example: logging decisions with pino", () => {
  let app: DecisionApp | undefined;
  afterEach(() => app?.close());

  const logged = async (options?: { rawKey?: boolean }) => {
    const lines: string[] = [];
    const logger = pino({ base: undefined }, { write: (line: string) => void lines.push(line) });
    app = await startDecisionApp((idempotencyOptions) =>
      createIdempotency({ ...idempotencyOptions, onEvent: logDecisionsWithPino(logger, options) }),
    );
    const driven = await driveEveryDecision(app);
    return { lines, driven };
  };

  it("writes one line per decision with the documented fields; keys only hashed, never a body", async () => {
    const { lines, driven } = await logged();
    await expectDecisionLines(lines, driven);
    const parsed = lines.map(
      (line) => JSON.parse(line) as { level: number; msg: string; oncely: { decision: string } },
    );
    expect(parsed.find((line) => line.oncely.decision === "replayed")).toMatchObject({
      level: 30,
      msg: "oncely replayed POST /charges",
    });
    expect(parsed.find((line) => line.oncely.decision === "fenced")?.level).toBe(40);
    expect(parsed.find((line) => line.oncely.decision === "store-error")?.level).toBe(50);
  });

  it("logs the raw key too with rawKey: true", async () => {
    const { lines, driven } = await logged({ rawKey: true });
    const fields = await expectDecisionLines(lines, driven, { rawKey: true });
    expect(fields.filter((line) => line.key === driven.keys.charge).map((line) => line.decision)).toEqual([
      "executed",
      "replayed",
      "mismatch",
    ]);
  });
});
