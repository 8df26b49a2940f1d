import { nodeBuiltin } from "./node-builtins.js";

/**
 * SHA-256, base64url, synchronous: ids and fingerprints are computed on every request, and `deriveKey` is a plain
 * function. Node's own implementation where the runtime has it; elsewhere (browsers, edge runtimes without Node
 * compatibility, where Web Crypto offers only an asynchronous digest) the FIPS 180-4 algorithm below, checked
 * against Node's on random inputs by the tests.
 */
export const sha256: (data: string | Uint8Array) => string = (() => {
  const crypto = nodeBuiltin("node:crypto");
  if (crypto && typeof crypto.hash === "function") return (data) => crypto.hash("sha256", data, "base64url");
  return portableSha256;
})();

const encoder = new TextEncoder();

/** The implementation for runtimes without `node:crypto`. */
export function portableSha256(data: string | Uint8Array): string {
  return toBase64Url(digest(typeof data === "string" ? encoder.encode(data) : data));
}

/** The same digest as lower-case hex, as `sha256sum` prints it (see `keyHash`), for runtimes without `node:crypto`. */
export function portableSha256Hex(data: string | Uint8Array): string {
  const bytes = digest(typeof data === "string" ? encoder.encode(data) : data);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The first 32 bits of the fractional parts of the square (H) and cube (K) roots of the first 64 primes. */
let K: Uint32Array | undefined;
let H: Uint32Array | undefined;

/** Computed, not spelled out: 72 hex literals would be a sixth of the core's bundle (doubles hold every bit needed). */
function constants(): [Uint32Array, Uint32Array] {
  if (K && H) return [K, H];
  const primes: number[] = [];
  for (let n = 2; primes.length < 64; n++) if (primes.every((p) => n % p !== 0)) primes.push(n);
  const fraction = (root: number) => ((root - Math.floor(root)) * 2 ** 32) >>> 0;
  K = Uint32Array.from(primes, (p) => fraction(Math.cbrt(p)));
  H = Uint32Array.from(primes.slice(0, 8), (p) => fraction(Math.sqrt(p)));
  return [K, H];
}

function digest(data: Uint8Array): Uint8Array {
  // Padding: a 1 bit, zeros, then the length in bits as a 64-bit big-endian number, to a multiple of 64 bytes.
  const blocks = Math.ceil((data.length + 9) / 64);
  const padded = new Uint8Array(blocks * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(data.length / 0x20000000));
  view.setUint32(padded.length - 4, (data.length << 3) >>> 0);
  const [k, initial] = constants();
  const h = initial.slice();
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let offset = 0; offset < padded.length; offset += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15]!, 7) ^ rotr(w[i - 15]!, 18) ^ (w[i - 15]! >>> 3);
      const s1 = rotr(w[i - 2]!, 17) ^ rotr(w[i - 2]!, 19) ^ (w[i - 2]! >>> 10);
      w[i] = w[i - 16]! + s0 + w[i - 7]! + s1;
    }
    let [a, b, c, d, e, f, g, hh] = h as unknown as number[];
    for (let i = 0; i < 64; i++) {
      const t1 = hh! + (rotr(e!, 6) ^ rotr(e!, 11) ^ rotr(e!, 25)) + ((e! & f!) ^ (~e! & g!)) + k[i]! + w[i]!;
      const t2 = (rotr(a!, 2) ^ rotr(a!, 13) ^ rotr(a!, 22)) + ((a! & b!) ^ (a! & c!) ^ (b! & c!));
      hh = g;
      g = f;
      f = e;
      e = (d! + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    h[0]! += a!;
    h[1]! += b!;
    h[2]! += c!;
    h[3]! += d!;
    h[4]! += e!;
    h[5]! += f!;
    h[6]! += g!;
    h[7]! += hh!;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(i * 4, h[i]!);
  return out;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function toBase64Url(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let j = 0; j < chars; j++) text += ALPHABET[(n >>> (18 - 6 * j)) & 63];
  }
  return text;
}
