import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

// The engine's modules form a tree of dependencies: a lifecycle split across files that import each other is hard to
// read and order-dependent to load. Every kind of import counts (static, type-only, dynamic, re-export).
const dir = new URL("../../src/core/", import.meta.url);
const SPECIFIER = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)"\.\/([\w.-]+)\.js"/g;

function importsOf(file: string): string[] {
  const source = readFileSync(new URL(file, dir), "utf8");
  return [...new Set(Array.from(source.matchAll(SPECIFIER), (match) => `${match[1]}.ts`))];
}

/** Every cycle reachable in the graph, each as the path that closes it. */
function cycles(graph: ReadonlyMap<string, string[]>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (file: string) => {
    const at = path.indexOf(file);
    if (at !== -1) return void found.push([...path.slice(at), file]);
    if (done.has(file)) return;
    path.push(file);
    for (const next of graph.get(file) ?? []) visit(next);
    path.pop();
    done.add(file);
  };
  for (const file of graph.keys()) visit(file);
  return found;
}

describe("src/core", () => {
  const files = readdirSync(dir).filter((file) => file.endsWith(".ts"));
  const graph = new Map(files.map((file) => [file, importsOf(file)]));

  it("reads the imports of every module (the check sees the graph)", () => {
    expect(graph.get("guard.ts")).toContain("attempt.ts");
    expect(graph.get("attempt.ts")).toContain("step-runner.ts");
    expect(graph.get("context.ts")).toEqual([]);
    for (const imports of graph.values()) for (const file of imports) expect(files).toContain(file);
  });

  it("has no import cycles", () => {
    expect(cycles(graph).map((cycle) => cycle.join(" -> "))).toEqual([]);
  });

  it("finds a cycle where there is one", () => {
    const looped = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts"]],
    ]);
    expect(cycles(looped)).toEqual([["a.ts", "b.ts", "c.ts", "a.ts"]]);
  });
});
