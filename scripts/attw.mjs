// Are the types wrong? (`attw` over the packed tarball), for every entry point, the stores' included. The stores are
// exported by one pattern (`./stores/*`), which attw cannot enumerate, so each store folder the build holds is named
// to it here: a new store is checked without a line changed. Run after `npm run build`.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";

const { exports } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const stores = readdirSync(new URL("../dist/stores/", import.meta.url)).filter(
  (name) =>
    existsSync(new URL(`../dist/stores/${name}/index.js`, import.meta.url)) && exports[`./stores/${name}`] !== null,
);
execFileSync(
  "npx",
  ["attw", "--pack", "--profile", "esm-only", "--include-entrypoints", ...stores.map((name) => `./stores/${name}`)],
  { stdio: "inherit" },
);
