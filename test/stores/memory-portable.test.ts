import { vi } from "vitest";

/**
 * The MemoryStore where Node's built-in modules are out of reach (browsers, edge runtimes): its records are encoded
 * by plain loops instead of Node's buffer methods, and must behave the same. The store module is loaded afresh with
 * `process.getBuiltinModule` hidden, as such a runtime has none; the suite too, so both share one set of error classes.
 */
const hidden = process.getBuiltinModule;
(process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
vi.resetModules();
const { MemoryStore } = await import("../../src/stores/memory/index.js");
const { testMemoryStore } = await import("./memory-suite.js");
process.getBuiltinModule = hidden;

testMemoryStore("memory, without Node's built-in modules", MemoryStore);
