import { afterEach, describe, expect, it, vi } from "vitest";
import { logDecisionsToConsole } from "../../examples/logging/console.js";
import { createIdempotency } from "../../src/index.js";
import { type DecisionApp, driveEveryDecision, startDecisionApp } from "../support/decision-app.js";
import { expectDecisionLines } from "./decision-lines.js";

describe("example: logging decisions as JSON lines with console.log", () => {
  let app: DecisionApp | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await app?.close();
  });

  const logged = async (options?: { rawKey?: boolean }) => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(`${line}\n`));
    app = await startDecisionApp((idempotencyOptions) =>
      createIdempotency({ ...idempotencyOptions, onEvent: logDecisionsToConsole(options) }),
    );
    const driven = await driveEveryDecision(app);
    return { lines, driven };
  };

  it("writes one JSON line per decision with the documented fields; keys only hashed, never a body", async () => {
    const { lines, driven } = await logged();
    await expectDecisionLines(lines, driven);
    const parsed = lines.map((line) => JSON.parse(line) as { time: string; level: string; msg: string });
    for (const line of parsed) expect(Number.isNaN(Date.parse(line.time))).toBe(false);
    expect(parsed.map((line) => line.level).sort()).toEqual([...Array(13).fill("info"), "warn", "error"].sort());
    expect(parsed.some((line) => line.msg === "oncely too-large POST /small")).toBe(true);
  });

  it("logs the raw key too with rawKey: true", async () => {
    const { lines, driven } = await logged({ rawKey: true });
    const fields = await expectDecisionLines(lines, driven, { rawKey: true });
    expect(fields.find((line) => line.decision === "rate-limited")?.key).toBe(driven.keys.limited);
  });
});
