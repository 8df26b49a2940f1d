// Terminal output: colour, aligned tables, times and sizes. Nothing here knows about records.

/** Paints text when colour is on; every function returns its input unchanged when it is off. */
export interface Palette {
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

const sgr = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;
const plain = (text: string) => text;

/** A palette that paints (ANSI SGR codes) or not. */
export function palette(enabled: boolean): Palette {
  return {
    enabled,
    bold: enabled ? sgr(1, 22) : plain,
    dim: enabled ? sgr(2, 22) : plain,
    red: enabled ? sgr(31, 39) : plain,
    green: enabled ? sgr(32, 39) : plain,
    yellow: enabled ? sgr(33, 39) : plain,
    cyan: enabled ? sgr(36, 39) : plain,
  };
}

/** Colour only for a person at a terminal who has not asked for none (https://no-color.org). */
export function colourWanted(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  return stream.isTTY === true && !env.NO_COLOR;
}

/** The printed width of `text`: colour codes take no columns. */
export function visibleLength(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching the escape character is the point
  return text.replace(/\u001b\[\d+m/g, "").length;
}

/**
 * Lays rows out in columns separated by two spaces, the header first. Cells may carry colour; the last column is not
 * padded, so lines carry no trailing blanks.
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[], paint: Palette): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => visibleLength(row[column] ?? ""))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) =>
        column === cells.length - 1 ? cell : cell + " ".repeat(widths[column]! - visibleLength(cell)),
      )
      .join("  ");
  return [paint.bold(line(header)), ...rows.map(line)].join("\n");
}

/** `label  value` lines with the labels aligned, for one record's details. */
export function fields(entries: readonly (readonly [string, string])[], paint: Palette): string {
  const width = Math.max(...entries.map(([label]) => label.length));
  return entries.map(([label, value]) => `${paint.dim(label.padEnd(width))}  ${value}`).join("\n");
}

/** "3h 20m", "45s", "2d 4h": the two largest units of a duration, for ages and time left. */
export function humanDuration(ms: number): string {
  const units: [string, number][] = [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1_000],
  ];
  let rest = Math.abs(ms);
  if (rest < 1_000) return `${Math.round(rest)}ms`;
  const parts: string[] = [];
  for (const [unit, size] of units) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    } else if (parts.length > 0) break;
  }
  return parts.join(" ");
}

/** "5m ago" for a time in the past, "in 23h 55m" for one in the future. */
export function relativeTime(at: number, now: number): string {
  return at <= now ? `${humanDuration(now - at)} ago` : `in ${humanDuration(at - now)}`;
}

/** An ISO 8601 timestamp with the relative time after it. */
export function timestamp(at: number, now: number, paint: Palette): string {
  return `${new Date(at).toISOString()} ${paint.dim(`(${relativeTime(at, now)})`)}`;
}

/** "512 B", "1.5 KiB", "3.2 MiB". */
export function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = count / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** `count` with its noun, singular or plural: "1 record", "3 records". */
export function plural(count: number, noun: string, many = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : many}`;
}
