#!/usr/bin/env node
// `npm run soak -- --minutes N`: the reliability tests at soak size, sharing N minutes between them.
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { minutes: { type: "string", default: "30" } } });
const minutes = Number(values.minutes);
if (!Number.isFinite(minutes) || minutes <= 0) {
  console.error(`oncely soak: --minutes must be a positive number, got "${values.minutes}"`);
  process.exit(2);
}
const result = spawnSync("npx", ["vitest", "run", "--config", "vitest.reliability.config.ts"], {
  stdio: "inherit",
  env: { ...process.env, ONCELY_SOAK_MINUTES: String(minutes) },
});
process.exit(result.status ?? 1);
