// How a stored body is shown: bodies are bytes, and an operator wants to read text as text and still see something
// useful (a hex dump, base64) when it is binary, without printing a megabyte.

export interface BodyPreview {
  /** The whole body's size in bytes. */
  size: number;
  /** The first bytes as text, when they are printable UTF-8. */
  text?: string;
  /** The bytes shown (at most the limit); for binary bodies, what the hex dump or base64 shows. */
  shown: Uint8Array;
  /** True when the body is longer than what is shown. */
  truncated: boolean;
}

// A control character other than tab, line feed and carriage return marks a body as binary.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** The first `limit` bytes of a body, as text when they decode as printable UTF-8. */
export function previewBody(body: Uint8Array, limit: number): BodyPreview {
  const shown = body.subarray(0, limit);
  const truncated = body.byteLength > shown.byteLength;
  const text = printableText(shown, truncated);
  return text === undefined
    ? { size: body.byteLength, shown, truncated }
    : { size: body.byteLength, text, shown, truncated };
}

function printableText(bytes: Uint8Array, cut: boolean): string | undefined {
  try {
    // With `stream`, a character cut in half at the limit is held back instead of counted as invalid.
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes, { stream: cut });
    return CONTROL.test(text) ? undefined : text;
  } catch {
    return undefined;
  }
}

/** A classic hex dump: offset, 16 bytes in hex, and their printable ASCII. */
export function hexDump(bytes: Uint8Array): string[] {
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.byteLength; offset += 16) {
    const row = bytes.subarray(offset, offset + 16);
    const hex = Array.from(row, (byte) => byte.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, (byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : ".")).join("");
    lines.push(`${offset.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines;
}
