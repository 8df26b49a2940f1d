/**
 * The store conformance suite, for anyone writing a store.
 *
 * @module oncely/testing
 */
export { type CountedStore, type StoreSuiteOptions, testStore } from "./store-suite.js";
export type { Matchers, TestApi } from "./test-api.js";
