import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cruise, type IConfiguration } from "dependency-cruiser";
import { afterAll, describe, expect, it } from "vitest";

// `npm run lint:graph` runs dependency-cruiser over src/ with .dependency-cruiser.cjs. This proves that config catches
// what it is there for: a cycle closed by a dynamic import() and a type-only import still counts.
const config = createRequire(import.meta.url)("../../.dependency-cruiser.cjs") as IConfiguration;
const dir = mkdtempSync(join(tmpdir(), "oncely-graph-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cycleOf(files: Record<string, string>) {
  mkdirSync(join(dir, "src"), { recursive: true });
  for (const [name, source] of Object.entries(files)) writeFileSync(join(dir, "src", name), source);
  const { tsConfig: _project, ...options } = config.options ?? {};
  return cruise(["src"], { ...options, baseDir: dir, validate: true, ruleSet: { forbidden: config.forbidden } });
}

describe("the import-graph check", () => {
  it("fails on a cycle, whatever kind of import closes it", async () => {
    const result = await cycleOf({
      "engine.ts": 'export const load = async () => (await import("./driver.js")).driver;\n',
      "driver.ts": 'import type { Shape } from "./shape.js";\nexport const driver: Shape = 1;\n',
      "shape.ts": 'export type Shape = number;\nexport const back = () => import("./engine.js");\n',
    });
    const output = result.output as { summary: { error: number; violations: { rule: { name: string } }[] } };
    expect(output.summary.error).toBeGreaterThan(0);
    expect(new Set(output.summary.violations.map((violation) => violation.rule.name))).toEqual(
      new Set(["no-circular"]),
    );
  });
});
