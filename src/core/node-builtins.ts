/**
 * Node's built-in modules, where the runtime has them (Node.js, Bun, Deno, Workers with Node compatibility), loaded
 * without a static import so that the engine also bundles for runtimes without them (browsers, Vercel's edge).
 */
type Builtins = {
  "node:buffer": typeof import("node:buffer");
  "node:crypto": typeof import("node:crypto");
  "node:zlib": typeof import("node:zlib");
};

const getBuiltin = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.bind(globalThis.process);

export function nodeBuiltin<Id extends keyof Builtins>(id: Id): Builtins[Id] | undefined {
  return getBuiltin?.(id) as Builtins[Id] | undefined;
}
