// Apart from bytes.ts, which every request loads: only encrypted streams (aes-gcm.ts) and DynamoDB's stream pages
// frame entries, and a module shared with the core's first chunk would ship there whole.

/** The entries in one array, each led by its length (4 bytes, big-endian): `unframe` reads them back. */
export function frame(entries: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let size = 0;
  for (const entry of entries) size += 4 + entry.byteLength;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const entry of entries) {
    view.setUint32(offset, entry.byteLength);
    out.set(entry, offset + 4);
    offset += 4 + entry.byteLength;
  }
  return out;
}

/** The entries `frame` joined, as views of `bytes`; throws on bytes `frame` did not make. */
export function unframe(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.byteLength; ) {
    const end = offset + 4 + view.getUint32(offset);
    if (end > bytes.byteLength) throw new Error("Framed entries cut short");
    entries.push(bytes.subarray(offset + 4, end));
    offset = end;
  }
  return entries;
}
