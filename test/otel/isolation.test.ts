import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const src = new URL("../../src/", import.meta.url).pathname;
const files = (readdirSync(src, { recursive: true }) as string[])
  .filter((file) => file.endsWith(".ts"))
  .map((file) => join(src, file));
const importsOf = (file: string) =>
  [...readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)].map((match) => match[1]!);

// `@opentelemetry/api` is an optional peer: only users who import `oncely/otel` may load it.
describe("oncely/otel is the only entry that loads OpenTelemetry", () => {
  it("no file outside src/otel imports an @opentelemetry package, or src/otel", () => {
    const outside = files.filter((file) => !relative(src, file).startsWith("otel"));
    expect(outside.length).toBeGreaterThan(20);
    for (const file of outside) {
      const imports = importsOf(file);
      expect(
        imports.filter((name) => name.startsWith("@opentelemetry/")),
        relative(src, file),
      ).toEqual([]);
      expect(
        imports.filter((name) => name.includes("/otel/")),
        relative(src, file),
      ).toEqual([]);
    }
  });

  it("src/otel imports the API only, never an SDK (the application chooses and configures its SDK)", () => {
    const otel = files.filter((file) => relative(src, file).startsWith("otel"));
    const packages = new Set(otel.flatMap(importsOf).filter((name) => name.startsWith("@opentelemetry/")));
    expect([...packages]).toEqual(["@opentelemetry/api"]);
  });
});
