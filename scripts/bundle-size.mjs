// The bundle sizes users pay for, checked against limits (`npm run size`; `npm run check` runs it too). Each entry is
// bundled as an app would bundle it (esbuild, browser platform, ESM, minified, code splitting on) and measured
// min+brotli. "loaded" is the entry and every chunk it imports statically, which is what loads before the first
// call; chunks behind a dynamic import() (steps, idem.run, recover, encryption, transactions, body decoding) load
// only when used and are reported apart. Run after `npm run build`: it measures dist/.
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants } from "node:zlib";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const checks = [
  // 4.9 kB since streamed answers resume (4.51 -> 4.84 kB): the branch that wraps a streamed answer and the
  // `StreamResumeError` class; the resuming body itself (0.75 kB) loads on the first streamed answer.
  { name: "oncely/client (every export)", entry: "dist/client/index.js", limit: 4.9 },
  // Mostly the descriptions and examples it writes into the document, and the error classes they come from.
  // 4.6 kB since the optional expiry header's component and option (about 0.1 kB).
  { name: "oncely/openapi (every export)", entry: "dist/openapi/index.js", limit: 4.6 },
  {
    name: "oncely: createIdempotency + MemoryStore",
    entry: "dist/index.js",
    names: "{ createIdempotency, MemoryStore }",
    // 9.9 kB until 2026-12-07, then 14.7 kB: the strict JSON scanner of the fingerprint (3.3 kB minified, before
    // compression), the MemoryStore's compact record codec (4.5 kB), the cause log, the scope check and the
    // full-store refusal. Each is on every request's path, so none can wait behind a dynamic import. 15.2 kB since
    // the rate limiter's fixed table of seen keys (about 0.15 kB more code), which spares each new key a map entry
    // and about 2 µs; the limiter is on by default, so it too is on every request's path. 15.45 kB since `onReplay`
    // and `expiryHeader` (about 0.2 kB): their checks run at setup and their branch on every replay; the hook's own
    // code (copying and checking the response) loads on first use. 15.6 kB since `MemoryStore.aggregate` (one pass over
    // the records' fixed headers, what `oncely stats` asks every store for: a method of the class, so it ships with
    // it) and the engine's check that tells a client that hung up mid-upload from a failed check (about 0.14 kB).
    // 16.5 kB since streamed responses (15.59 -> 16.50 kB): the `stream` and `onInFlight: "join"` checks at setup,
    // the guard's branches for a join, a streamed replay and a streaming claim, and `MemoryStore`'s two stream
    // methods; the recorder, the follower, SSE resume and the memory store's logs load on first use (2.2 kB). The
    // guard's stream branches could move behind an import too (not measured). 16.7 kB since a claim granted after
    // `storeTimeout` is released at once (16.43 -> 16.61 kB with the next two): the release, the cipher's two methods
    // for sealed stream entries (the cipher itself loads on first use), and the longer list of stores that record
    // streams in the refusal's message. 17.1 kB since the fingerprint hashes a JSON body already in canonical form
    // as its bytes, checked without decoding it or building its text again, and parts given as bytes are framed in
    // one kept array, and the JSON media-type test is kept for the last Content-Type (16.70 -> 17.10 kB): 3,300 of
    // 43,700 instructions per replay on the engine alone (callgrind). 17.2 kB since `idem.run` remembers the digests
    // of its last runs (17.10 -> 17.12 kB loaded; the memo itself, 0.6 kB, loads with `idem.run`). 17.5 kB since
    // the memory store answers the engine's claims in its own turn (claim-now.ts: the claim's synchronous way in
    // claim.ts, attempt.ts and run.ts, and the store's lean decoding of a found record,
    // 17.12 -> 17.45 kB): a replay on the engine alone 40,800 -> 36,700 instructions.
    limit: 17.5,
  },
];

const kB = (bytes) => (bytes / 1000).toFixed(2);
const brotli = (bytes) => brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).byteLength;

let failed = false;
for (const check of checks) {
  const outdir = "/bundle-size";
  const result = await build({
    stdin: { contents: `export ${check.names ?? "*"} from "./${check.entry}";`, resolveDir: root },
    bundle: true,
    minify: true,
    format: "esm",
    splitting: true,
    platform: "browser",
    outdir,
    write: false,
    metafile: true,
  });
  const files = new Map(
    result.outputFiles.map((file) => [file.path.slice(file.path.indexOf(outdir) + outdir.length + 1), file.contents]),
  );
  const outputs = new Map(
    Object.entries(result.metafile.outputs).map(([path, output]) => [path.slice(path.lastIndexOf("/") + 1), output]),
  );
  const loaded = new Set();
  const visit = (name) => {
    if (loaded.has(name)) return;
    loaded.add(name);
    for (const { path, kind } of outputs.get(name).imports)
      if (kind === "import-statement") visit(path.slice(path.lastIndexOf("/") + 1));
  };
  visit("stdin.js");
  const joined = (names) => Buffer.concat(names.map((name) => files.get(name)));
  const loadedSize = brotli(joined([...loaded]));
  const lazy = [...files.keys()].filter((name) => !loaded.has(name));
  const lazyText = lazy.length ? `; ${lazy.length} chunks on demand: ${kB(brotli(joined(lazy)))} kB` : "";
  const over = loadedSize > check.limit * 1000;
  failed ||= over;
  console.log(`${over ? "✖" : "✔"} ${check.name}: ${kB(loadedSize)} kB loaded (limit ${check.limit} kB)${lazyText}`);
}
if (failed) {
  console.error("A bundle grew past its limit: shrink it, or raise the limit in scripts/bundle-size.mjs and say why.");
  process.exit(1);
}
