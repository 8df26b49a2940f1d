/**
 * The test functions the conformance suite runs under. Vitest's and Jest's globals fit as they are
 * (`{ describe, it, expect, beforeAll, afterAll }`), so the suite works in whatever runner a store's author uses.
 */
export interface TestApi {
  describe: (name: string, body: () => void) => unknown;
  it: (name: string, body: () => Promise<void> | void, timeout?: number) => unknown;
  expect: (actual: unknown) => Matchers;
  beforeAll: (body: () => Promise<void> | void, timeout?: number) => unknown;
  afterAll: (body: () => Promise<void> | void, timeout?: number) => unknown;
}

export interface Matchers {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toBeUndefined(): void;
  toBeDefined(): void;
  toBeGreaterThan(expected: number): void;
  toHaveLength(expected: number): void;
  not: Matchers;
}
