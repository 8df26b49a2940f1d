import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { codeBlocks, documentationPages, typeCheck } from "./code-blocks.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const globals = fileURLToPath(new URL("./example-globals.d.ts", import.meta.url));

describe("the documentation's TypeScript and JavaScript examples", () => {
  const blocks = documentationPages(root).flatMap((page) => codeBlocks(root, page));

  it("are found in the README and the pages under docs/", () => {
    expect(blocks.some((block) => block.file === "README.md")).toBe(true);
    expect(blocks.some((block) => block.file.startsWith("docs/"))).toBe(true);
  });

  it("type-check against the package's types", () => {
    expect(typeCheck(root, blocks, globals)).toEqual([]);
  }, 60_000);
});
