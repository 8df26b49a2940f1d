import { concat } from "../../core/bytes.js";
import { frame, unframe } from "../../core/framing.js";
import type { StreamRunState } from "../../core/store.js";
import type { Item } from "./item.js";

/**
 * How the DynamoDB store logs streamed responses (`stream: true` routes) in a table with one hash key and no
 * transactions (dynalite has none either):
 *
 * - Each append is a batch: its entries, each framed by a 4-byte length, cut into pages under the item size limit,
 *   each page an item of its own (`<id>#stream#<token>#<nonce>#<page>`, written only where no item is).
 * - Then the batch is committed by one conditional UpdateItem on the record itself, fenced by the token: it appends
 *   `<entries>.<pages>.<nonce>` to the record's `stream_log` list only while the token holds a live claim. A fenced
 *   batch's pages are never listed, so never read, and expire with their `ttl`.
 * - A read takes the record's state and its log in one consistent GetItem, then the listed pages (BatchGetItem): the
 *   pages of a listed batch were written before it was listed. A claim removes the log, so a run's log is its own.
 */

/** The record's list of committed batches. */
export const LOG = "stream_log";
/** Bytes of batch per page item: DynamoDB's 400 KB less room for the key and the expiry attributes. */
export const PAGE_BYTES = 390 * 1024;
/** Batches one run may commit (about 20 bytes each in the record, against its 400 KB): 4,096. */
export const MAX_BATCHES = 4096;

/** The key of page `page` of a batch. */
export function pageKey(id: string, token: number, nonce: string, page: number): string {
  return `${id}#stream#${token}#${nonce}#${page}`;
}

/** A batch's entries, each framed by its length, cut into pages of at most `PAGE_BYTES`. */
export function batchPages(entries: Uint8Array[]): Uint8Array[] {
  const bytes = frame(entries);
  const pages: Uint8Array[] = [];
  for (let start = 0; start < bytes.byteLength; start += PAGE_BYTES) {
    pages.push(bytes.subarray(start, start + PAGE_BYTES));
  }
  return pages;
}

/** A batch's entries from its pages, joined in order. */
export function batchEntries(pages: Uint8Array[]): Uint8Array[] {
  return unframe(concat(pages));
}

/** A committed batch, as its `stream_log` element says: how many entries, in how many pages, under which nonce. */
export interface Batch {
  entries: number;
  pages: number;
  nonce: string;
}

export function logElement(batch: Batch): string {
  return `${batch.entries}.${batch.pages}.${batch.nonce}`;
}

/** The batches of the record `item`, as the run `token` committed them (none when the record is another run's). */
export function batchesOf(item: Item | undefined, token: number): Batch[] {
  if (item === undefined || Number(item.token?.N) !== token) return [];
  return (item[LOG]?.L ?? []).map((element) => {
    const [entries, pages, nonce] = (element.S ?? "").split(".");
    return { entries: Number(entries), pages: Number(pages), nonce: nonce! };
  });
}

/** The batches that hold entries from position `from` on, and how many entries of the first one to skip. */
export function batchesFrom(batches: Batch[], from: number): { batches: Batch[]; skip: number } {
  let start = 0;
  for (const [index, batch] of batches.entries()) {
    if (from < start + batch.entries) return { batches: batches.slice(index), skip: from - start };
    start += batch.entries;
  }
  return { batches: [], skip: 0 };
}

/** Where the record `item` stands for the run `token` at `now`. */
export function runState(item: Item | undefined, token: number, now: number): StreamRunState {
  if (item === undefined || Number(item.token?.N) !== token || Number(item.expires_at?.N) <= now) return "gone";
  if (item.state?.S === "completed") return "completed";
  return item.state?.S === "in-flight" && Number(item.lease_until?.N) > now ? "held" : "gone";
}
