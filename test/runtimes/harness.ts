import type { Matchers, TestApi } from "../../src/testing/index.js";

// A test runner small enough to run inside any runtime (Bun, Deno, workerd): it gives the store conformance suite the
// `{ describe, it, expect, beforeAll, afterAll }` it expects, runs the cases one after another and reports each one
// as JSON-friendly data, which the Vitest side then asserts on.

/** One case's outcome. */
export interface CaseResult {
  name: string;
  passed: boolean;
  /** The assertion or error that failed it. */
  error?: string;
  ms: number;
}

interface Case {
  name: string;
  body: () => Promise<void> | void;
  timeout: number;
}

const DEFAULT_TIMEOUT = 30_000;

/** A fresh runner: register the suite with `test`, then `run()` it. */
export function createHarness(): { test: TestApi; run: () => Promise<CaseResult[]> } {
  const cases: Case[] = [];
  const before: Case[] = [];
  const after: Case[] = [];
  const path: string[] = [];
  const test: TestApi = {
    describe: (name, body) => {
      path.push(name);
      try {
        body();
      } finally {
        path.pop();
      }
    },
    it: (name, body, timeout = DEFAULT_TIMEOUT) => {
      cases.push({ name: [...path, name].join(" > "), body, timeout });
    },
    expect: (actual) => matchers(actual, false),
    beforeAll: (body, timeout = DEFAULT_TIMEOUT) => {
      before.push({ name: `${path.join(" > ")} (beforeAll)`, body, timeout });
    },
    afterAll: (body, timeout = DEFAULT_TIMEOUT) => {
      after.push({ name: `${path.join(" > ")} (afterAll)`, body, timeout });
    },
  };
  const run = async () => {
    const results: CaseResult[] = [];
    const failedSetup: CaseResult[] = [];
    for (const hook of before) {
      const result = await runCase(hook);
      if (!result.passed) failedSetup.push(result);
    }
    // A failed beforeAll fails every case rather than letting them run against a half-made fixture.
    if (failedSetup.length > 0) results.push(...failedSetup);
    else for (const one of cases) results.push(await runCase(one));
    for (const hook of after) {
      const result = await runCase(hook);
      if (!result.passed) results.push(result);
    }
    return results;
  };
  return { test, run };
}

async function runCase({ name, body, timeout }: Case): Promise<CaseResult> {
  const started = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      body(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeout} ms`)), timeout);
      }),
    ]);
    return { name, passed: true, ms: Date.now() - started };
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { name, passed: false, error: message, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

function matchers(actual: unknown, negated: boolean): Matchers {
  const check = (pass: boolean, what: string, expected?: unknown) => {
    if (pass === negated) {
      const shown = expected === undefined ? "" : ` ${describe(expected)}`;
      throw new Error(`expected ${describe(actual)} ${negated ? "not " : ""}${what}${shown}`);
    }
  };
  return {
    toBe: (expected) => check(Object.is(actual, expected), "to be", expected),
    toEqual: (expected) => check(deepEqual(actual, expected), "to equal", expected),
    toBeUndefined: () => check(actual === undefined, "to be undefined"),
    toBeDefined: () => check(actual !== undefined, "to be defined"),
    toBeGreaterThan: (expected) => check((actual as number) > expected, "to be greater than", expected),
    toHaveLength: (expected) =>
      check((actual as { length?: unknown })?.length === expected, "to have length", expected),
    get not() {
      return matchers(actual, !negated);
    },
  };
}

/** Structural equality as Vitest's `toEqual` sees it: properties that are undefined count as absent. */
function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor) return false;
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.byteLength === y.byteLength && x.every((byte, i) => byte === y[i]);
  }
  const keys = (value: object) =>
    Object.keys(value).filter((key) => (value as Record<string, unknown>)[key] !== undefined);
  const [ka, kb] = [keys(a), keys(b)];
  if (ka.length !== kb.length) return false;
  return ka.every((key) => deepEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `Uint8Array(${value.byteLength})`;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 200 ? `${text.slice(0, 200)}...` : text;
  } catch {
    return String(value);
  }
}
