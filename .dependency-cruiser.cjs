/**
 * The import-graph check of `npm run check` (`depcruise src`): src/ has no circular imports.
 *
 * Every kind of import counts: static, type-only (`tsPreCompilationDeps`), re-exports and dynamic `import()`. A
 * lifecycle split across files that import each other is hard to read and order-dependent to load, and a lazily
 * imported driver module that imports its importer back is still a cycle. Rules match paths under src/, whatever
 * folder a unit lives in, so moving an adapter or a store needs no change here.
 * @type {import("dependency-cruiser").IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "A module reaches itself through its imports. Break the cycle: move what both need into a third module.",
      from: { path: "^src/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
