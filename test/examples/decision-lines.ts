import { expect } from "vitest";
import type { DecisionFields } from "../../src/index.js";
import { type DrivenDecisions, EVERY_DECISION, SECRET } from "../support/decision-app.js";

const sha256Prefix = async (key: string) => {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  return Buffer.from(digest).toString("hex").slice(0, 16);
};

/**
 * Checks the log of `driveEveryDecision`: one line per decision, the documented fields, keys only as their hash
 * (unless `rawKey`), no body and no handler error message. Returns the lines' `oncely` fields.
 */
export async function expectDecisionLines(
  raw: string[],
  driven: DrivenDecisions,
  { rawKey = false } = {},
): Promise<DecisionFields[]> {
  expect(raw.every((line) => !line.slice(0, -1).includes("\n"))).toBe(true);
  const fields = raw.map((line) => (JSON.parse(line) as { oncely: DecisionFields }).oncely);
  expect(fields.map((line) => line.decision).sort()).toEqual(EVERY_DECISION);
  for (const line of fields) {
    expect(typeof line.route).toBe("string");
    expect(line.duration_ms).toBeGreaterThanOrEqual(0);
    if (line.decision !== "invalid") expect(line.key_hash).toMatch(/^[0-9a-f]{16}$/);
    if (rawKey) expect(line.key === undefined || line.key.includes(SECRET)).toBe(true);
    else expect(line.key).toBeUndefined();
  }
  const chargeHash = await sha256Prefix(driven.keys.charge);
  expect(
    fields
      .filter((line) => line.key_hash === chargeHash)
      .map(({ decision, status, route }) => ({ decision, status, route })),
  ).toEqual([
    { decision: "executed", status: 201, route: "POST /charges" },
    { decision: "replayed", status: 201, route: "POST /charges" },
    { decision: "mismatch", status: 422, route: "POST /charges" },
  ]);
  const released = fields.find((line) => line.decision === "released")!;
  expect(released).toMatchObject({ reason: "the handler failed", error_type: "Error" });
  const storeError = fields.find((line) => line.decision === "store-error")!;
  expect(storeError).toMatchObject({
    error_type: "store_unavailable",
    key_hash: await sha256Prefix(driven.keys.storeError),
  });
  expect(storeError.reason).toContain("connection refused");
  const fenced = fields.find((line) => line.decision === "fenced")!;
  expect(fenced.token).toEqual(expect.any(Number));
  const everything = raw.join("");
  if (rawKey) {
    expect(everything).toContain(driven.keys.charge);
    // Keys, but still no body: every body carries SECRET too, in a field of its own.
    expect(everything).not.toContain(`"note":"${SECRET}`);
    expect(everything).not.toContain(`handler failed ${SECRET}`);
  } else {
    expect(everything).not.toContain(SECRET);
  }
  return fields;
}
