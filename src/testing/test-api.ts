/**
 * The test functions the conformance suite runs under. Vitest's and Jest's globals fit as they are
 * (`{ describe, it, expect, beforeAll, afterAll }`), so the suite works in whatever runner a store's author uses.
 */
export interface TestApi {
  /** Groups the suite's cases. */
  describe: (name: string, body: () => void) => unknown;
  /** Declares one case. */
  it: (name: string, body: () => Promise<void> | void, timeout?: number) => unknown;
  /** Starts an assertion. */
  expect: (actual: unknown) => Matchers;
  /** Runs once before the cases. */
  beforeAll: (body: () => Promise<void> | void, timeout?: number) => unknown;
  /** Runs once after the cases. */
  afterAll: (body: () => Promise<void> | void, timeout?: number) => unknown;
}

/** The few matchers the suite uses; Vitest's and Jest's `expect` have them all. */
export interface Matchers {
  /** Same value (`Object.is`). */
  toBe(expected: unknown): void;
  /** Deeply equal. */
  toEqual(expected: unknown): void;
  /** Is `undefined`. */
  toBeUndefined(): void;
  /** Is not `undefined`. */
  toBeDefined(): void;
  /** A number larger than `expected`. */
  toBeGreaterThan(expected: number): void;
  /** Has `length` equal to `expected`. */
  toHaveLength(expected: number): void;
  /** The same matchers, negated. */
  not: Matchers;
}
