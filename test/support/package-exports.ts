import { readFileSync } from "node:fs";

/** One conditional target of package.json `exports` (oncely's are all `{ types, default }`). */
export interface ExportTarget {
  types: string;
  default: string;
}

type Exports = Record<string, ExportTarget | string | null>;

const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  exports: Exports;
};

/** package.json's `exports` as written. */
export const packageExports: Exports = manifest.exports;

/**
 * What `oncely<subpath>` resolves to, as Node.js resolves it: an exact key first (a `null` one refuses the subpath),
 * then the pattern (`./stores/*`) with the longest prefix, its `*` replaced in every target. `undefined` where
 * Node.js would answer `ERR_PACKAGE_PATH_NOT_EXPORTED`. Only what oncely's `exports` use: no nested conditions.
 */
export function exportTarget(subpath: string): ExportTarget | undefined {
  const key = subpath === "" ? "." : `.${subpath}`;
  if (key in packageExports) return asTarget(packageExports[key]);
  let best: { prefix: string; suffix: string; target: ExportTarget | string | null } | undefined;
  for (const [pattern, target] of Object.entries(packageExports)) {
    const star = pattern.indexOf("*");
    if (star === -1) continue;
    const prefix = pattern.slice(0, star);
    const suffix = pattern.slice(star + 1);
    if (!key.startsWith(prefix) || !key.endsWith(suffix) || key.length < pattern.length) continue;
    if (!best || prefix.length > best.prefix.length) best = { prefix, suffix, target };
  }
  if (!best) return undefined;
  const match = key.slice(best.prefix.length, key.length - best.suffix.length);
  const target = asTarget(best.target);
  return target && { types: target.types.replaceAll("*", match), default: target.default.replaceAll("*", match) };
}

function asTarget(target: ExportTarget | string | null | undefined): ExportTarget | undefined {
  return target === null || target === undefined || typeof target === "string" ? undefined : target;
}
