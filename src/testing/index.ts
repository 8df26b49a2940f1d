export { type StoreSuiteOptions, testStore } from "./store-suite.js";
export type { Matchers, TestApi } from "./test-api.js";
