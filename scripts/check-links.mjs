// Checks the relative links of the repository's Markdown: every linked file exists, and every `#anchor` names a
// heading of its target as GitHub renders it. TypeDoc checks the pages it renders too, but not links into files it
// does not render (src/, test/, bench/) nor anchors inside one page; this covers both. Run by `npm run check`.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The Markdown files people read: the root's, docs/ (without the generated API reference) and bench/RESULTS.md. */
function markdownFiles() {
  const files = readdirSync(root)
    .filter((name) => name.endsWith(".md"))
    .map((name) => join(root, name));
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && path !== join(root, "docs", "api")) walk(path);
      else if (entry.isFile() && entry.name.endsWith(".md")) files.push(path);
    }
  };
  if (existsSync(join(root, "docs"))) walk(join(root, "docs"));
  files.push(join(root, "bench", "RESULTS.md"));
  return files;
}

/** The text outside fenced code blocks, line by line (line numbers kept), with inline code blanked. */
function proseLines(text) {
  let fenced = false;
  return text.split("\n").map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return "";
    }
    return fenced ? "" : line.replace(/`[^`]*`/g, (code) => " ".repeat(code.length));
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchorsOf(text) {
  const anchors = new Set();
  const seen = new Map();
  let fenced = false;
  for (const line of text.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const slug = heading[1]
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  for (const [, id] of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(id);
  return anchors;
}

const anchorCache = new Map();
function anchorsOfFile(path) {
  if (!anchorCache.has(path)) anchorCache.set(path, anchorsOf(readFileSync(path, "utf8")));
  return anchorCache.get(path);
}

const problems = [];
let checked = 0;
for (const file of markdownFiles()) {
  const lines = proseLines(readFileSync(file, "utf8"));
  lines.forEach((line, index) => {
    for (const match of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = match[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      checked++;
      const where = `${relative(root, file)}:${index + 1}`;
      const [pathPart, anchor] = target.split("#", 2);
      const path = pathPart ? resolve(dirname(file), decodeURIComponent(pathPart)) : file;
      if (!existsSync(path)) {
        problems.push(`${where}: ${target}: no such file`);
        continue;
      }
      if (anchor === undefined || statSync(path).isDirectory()) continue;
      if (!path.endsWith(".md")) {
        if (!/^L\d+(-L\d+)?$/.test(anchor))
          problems.push(`${where}: ${target}: only line anchors (#L12) fit a source file`);
        continue;
      }
      if (!anchorsOfFile(path).has(anchor)) problems.push(`${where}: ${target}: no heading with that anchor`);
    }
  });
}

if (problems.length > 0) {
  console.error(`check-links: ${problems.length} broken link(s) of ${checked}:\n${problems.join("\n")}`);
  process.exit(1);
}
console.log(`check-links: ${checked} relative links, all resolve`);
