import { sealedKeyId } from "../core/aes-gcm.js";
import type { IdempotencyRecord, StoredResponse } from "../core/store.js";
import { type BodyPreview, previewBody } from "./body-preview.js";
import { UsageError } from "./errors.js";

// What the CLI shows of a record, in one shape for JSON and for the terminal. Times become ISO 8601 strings; absent
// values are null, so every JSON document has the same keys.

/** One record as `list --json` prints it (one per line). */
export interface RecordSummary {
  id: string;
  key: string;
  /** The scope's short hash as stored (the scope itself is never stored), or null without a scope. */
  scope: string | null;
  method: string | null;
  path: string | null;
  state: IdempotencyRecord["state"];
  createdAt: string;
  completedAt: string | null;
  expiresAt: string;
  /** When the current holder's lease runs out (in-flight records only). */
  leaseUntil: string | null;
  /** How often the stored response was replayed (counted in batches, best effort); null where the store keeps no count. */
  replays: number | null;
  response: {
    status: number;
    /** False when the response was over `maxResponseBytes`: only its status was kept. */
    kept: boolean;
    /** The id of the encryption key the response was sealed with, or null when stored in clear. */
    sealedWith: string | null;
    bodyBytes: number;
  } | null;
}

/** One record as `inspect --json` prints it. */
export interface RecordDetail extends Omit<RecordSummary, "response"> {
  fingerprint: string;
  token: number;
  version: number;
  response:
    | (NonNullable<RecordSummary["response"]> & {
        /** True when the response was sealed and opened with a key given on the command line. */
        decrypted: boolean;
        /** Why a sealed response did not open with the keys given, or null. */
        decryptionError: string | null;
        headers: [string, string][];
        body: { size: number; truncated: boolean; text: string } | { size: number; truncated: boolean; base64: string };
      })
    | null;
}

/** "POST /charges", or the job name of an `idem.run` record. */
export function routeOf(record: IdempotencyRecord): string {
  const { method, path } = record.meta;
  return [method, path].filter(Boolean).join(" ") || "-";
}

/**
 * A `--route` filter: "POST /charges" matches method and path, "/charges" the path under any method; `*` in the path
 * matches anything ("/charges/*"). Methods compare case-insensitively, paths exactly.
 */
export function routeMatcher(pattern: string): (record: IdempotencyRecord) => boolean {
  const trimmed = pattern.trim();
  const space = trimmed.indexOf(" ");
  const method = space === -1 ? undefined : trimmed.slice(0, space).toUpperCase();
  const path = space === -1 ? trimmed : trimmed.slice(space + 1).trim();
  if (path === "" || /\s/.test(path)) {
    throw new UsageError(`--route takes "METHOD /path" or "/path", got ${JSON.stringify(pattern)}`);
  }
  const escaped = path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*");
  const paths = new RegExp(`^${escaped}$`);
  return (record) =>
    (method === undefined || record.meta.method?.toUpperCase() === method) && paths.test(record.meta.path ?? "");
}

/**
 * The record's replay count, once stores keep one. The store contract has no such field yet; reading it here means
 * the CLI shows counts as soon as a store writes them, and null until then.
 */
export function replaysOf(record: IdempotencyRecord): number | null {
  const replays = (record as { replays?: unknown }).replays;
  return typeof replays === "number" ? replays : null;
}

const iso = (at: number | undefined) => (at === undefined ? null : new Date(at).toISOString());

export function recordSummary(record: IdempotencyRecord): RecordSummary {
  const { response } = record;
  return {
    ...identity(record),
    response: response
      ? {
          status: response.status,
          kept: response.kept,
          sealedWith: sealedKeyId(response) ?? null,
          bodyBytes: response.body.byteLength,
        }
      : null,
  };
}

export interface DetailOptions {
  /** The most body bytes shown. */
  bodyBytes: number;
  /** The response opened with a key from the command line, when it was sealed and one was given. */
  opened?: StoredResponse;
  /** Why a sealed response did not open with the keys given. */
  decryptionError?: string;
}

export function recordDetail(record: IdempotencyRecord, options: DetailOptions): RecordDetail {
  const { response } = record;
  const shown = options.opened ?? response;
  return {
    ...identity(record),
    fingerprint: record.fingerprint,
    token: record.token,
    version: record.version,
    response:
      response && shown
        ? {
            status: response.status,
            kept: response.kept,
            sealedWith: sealedKeyId(response) ?? null,
            bodyBytes: response.body.byteLength,
            decrypted: options.opened !== undefined,
            decryptionError: options.decryptionError ?? null,
            headers: shown.headers,
            body: bodyJson(previewBody(shown.body, options.bodyBytes)),
          }
        : null,
  };
}

function identity(record: IdempotencyRecord): Omit<RecordSummary, "response"> {
  return {
    id: record.id,
    key: record.meta.key,
    scope: record.meta.scope ?? null,
    method: record.meta.method ?? null,
    path: record.meta.path ?? null,
    state: record.state,
    createdAt: iso(record.createdAt)!,
    completedAt: iso(record.completedAt),
    expiresAt: iso(record.expiresAt)!,
    leaseUntil: record.state === "in-flight" ? iso(record.leaseUntil) : null,
    replays: replaysOf(record),
  };
}

function bodyJson(preview: BodyPreview): NonNullable<RecordDetail["response"]>["body"] {
  const { size, truncated } = preview;
  return preview.text === undefined
    ? { size, truncated, base64: Buffer.from(preview.shown).toString("base64") }
    : { size, truncated, text: preview.text };
}
