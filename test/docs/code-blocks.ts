import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

/** A fenced TypeScript or JavaScript block of a Markdown page, where it starts (the line after its fence, 1-based). */
export interface CodeBlock {
  file: string;
  line: number;
  language: "ts" | "js";
  code: string;
}

const LANGUAGES: Record<string, CodeBlock["language"]> = { ts: "ts", typescript: "ts", js: "js", javascript: "js" };

/** The marker that leaves the next block out: for a fragment that cannot compile on its own. */
export const SKIP_MARKER = "<!-- not compiled: fragment -->";

/** README.md and every page under docs/ (the generated API reference in docs/api excepted). */
export function documentationPages(root: string): string[] {
  const pages = [join(root, "README.md")];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && path !== join(root, "docs", "api")) walk(path);
      else if (entry.isFile() && entry.name.endsWith(".md")) pages.push(path);
    }
  };
  walk(join(root, "docs"));
  return pages;
}

/** The ```ts and ```js blocks of a page, without those preceded by the skip marker. */
export function codeBlocks(root: string, path: string): CodeBlock[] {
  const lines = readFileSync(path, "utf8").split("\n");
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(\s*)```(\w*)/.exec(lines[i]!);
    if (!fence) continue;
    const end = lines.findIndex((line, j) => j > i && line.trim() === "```");
    const previous = lines.slice(0, i).findLast((line) => line.trim() !== "");
    const language = LANGUAGES[fence[2]!];
    if (language && previous?.trim() !== SKIP_MARKER) {
      const code = lines.slice(i + 1, end).map((line) => line.slice(fence[1]!.length));
      blocks.push({ file: relative(root, path), line: i + 2, language, code: code.join("\n") });
    }
    i = end;
  }
  return blocks;
}

/**
 * `oncely` and each `oncely/<subpath>` mapped to its source, read from package.json's exports, so the examples are
 * checked against the types users get without a build.
 */
function packagePaths(root: string): Record<string, string[]> {
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    exports: Record<string, string | { types?: string } | null>;
  };
  const paths: Record<string, string[]> = {};
  // A pattern (`./stores/*`) maps as it stands: TypeScript's `paths` take one `*` on each side as well. A subpath
  // `exports` refuses (`null`) maps to a file that does not exist, so an example importing it fails to resolve, as it
  // would for a user, instead of matching the pattern.
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    const name = subpath === "." ? "oncely" : `oncely/${subpath.slice(2)}`;
    if (target === null) paths[name] = [join(root, "not-exported")];
    const types = typeof target === "string" || target === null ? undefined : target.types;
    if (!types) continue;
    paths[name] = [join(root, types.replace(/^\.\/dist\//, "src/").replace(/\.d\.ts$/, ".ts"))];
  }
  return paths;
}

/**
 * Type-checks every block as a module of its own (JavaScript too, as `checkJs` does), in one program, against the package's sources. The blocks live in
 * memory, at paths under test/docs/ so that imports resolve from the repository's node_modules; `globals` declares
 * what the examples take for granted (`idem`, `createCharge`, ...). Returns one line per error, naming the page and
 * line it comes from.
 */
export function typeCheck(root: string, blocks: CodeBlock[], globals: string): string[] {
  const dir = join(root, "test", "docs", "__examples__");
  const files = new Map(blocks.map((block, index) => [join(dir, `block-${index}.${block.language}`), block]));
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    moduleDetection: ts.ModuleDetectionKind.Force,
    lib: ["lib.es2023.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
    types: ["node"],
    strict: true,
    allowJs: true,
    checkJs: true,
    experimentalDecorators: true,
    skipLibCheck: true,
    noEmit: true,
    paths: packagePaths(root),
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.fileExists = (name) => files.has(name) || fileExists(name);
  host.readFile = (name) => files.get(name)?.code ?? readFile(name);
  host.getSourceFile = (name, language, ...rest) => {
    const block = files.get(name);
    return block ? ts.createSourceFile(name, block.code, language) : getSourceFile(name, language, ...rest);
  };
  const program = ts.createProgram({ rootNames: [...files.keys(), globals], options, host });
  // Only the examples and their globals are checked: the package's sources have their own `tsc` run, and checking
  // them again here would take most of the time.
  const checked = [...files.keys(), globals].map((name) => program.getSourceFile(name)!);
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...checked.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]),
  ];
  return diagnostics.map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n  ");
    const block = diagnostic.file && files.get(diagnostic.file.fileName);
    if (!diagnostic.file || diagnostic.start === undefined) return message;
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    const where = block
      ? `${block.file}:${block.line + line}`
      : `${relative(root, diagnostic.file.fileName)}:${line + 1}`;
    return `${where}: ${message}`;
  });
}
