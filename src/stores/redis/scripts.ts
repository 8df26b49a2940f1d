import { RECORD_FORMAT_VERSION } from "../../core/store.js";
import { sha1 } from "./sha1.js";

/**
 * The Lua scripts behind `RedisStore`, and the hash layout they read and write. Each operation is one script, so it
 * is atomic and one round trip; each reads the server's clock with `TIME`, so every process judges leases and expiry
 * by one clock. One record is one hash:
 *
 * state, fingerprint, token, created_at, lease_until, expires_at (epoch ms), meta (JSON), version, run_id, work (JSON,
 * when the run was started with one), step_count (from the run's first step on), one `step:<name>` field per step
 * ("<state>:<seq>" and, when it has one, ":<value>"), and once completed: completed_at, status, headers (JSON), body,
 * kept ("1" or "0"), body_encoding ("base64" when the body is stored as base64 text, absent when it is the raw bytes),
 * and replays (how often it was replayed; absent until counted). A client that carries bytes (ioredis, iovalkey,
 * node-redis) stores raw bytes; Upstash's REST API carries text only, so its store writes base64.
 * Steps live in the record's own hash, so they expire, are deleted and start afresh with it.
 *
 * The scripts that create or delete a record also keep the prefix's index (see `record-index.ts`), one sorted set of
 * record ids per shard, in the record's Cluster slot: a claim of a new record adds its id, `delete` removes it. A
 * change of state (complete, release, a takeover) leaves the index alone, so those scripts are given the record's key
 * only.
 */

/**
 * The fields a script replies for a record, in this order (`nil` where absent), followed by the step fields and
 * values when the run has steps. Positional rather than `HGETALL`: a replay's reply then carries no field names, and
 * the client decodes half as many values (measured with ioredis, 50 claims in flight: 23 µs of client CPU per replayed
 * claim instead of 29.5). The script replies the fields as they are stored, without packing them into one string:
 * that saved the client about 3 µs per replay and cost the Redis server 1.5 to 4.6 µs more (measured from its
 * `INFO cpu`), and one Redis thread serves every app process.
 */
export const RECORD_FIELDS = [
  "state",
  "fingerprint",
  "token",
  "created_at",
  "lease_until",
  "expires_at",
  "meta",
  "version",
  "replays",
  "run_id",
  "work",
  "completed_at",
  "status",
  "headers",
  "body",
  "kept",
  "body_encoding",
  // Last: the Lua below finds it by its position.
  "step_count",
] as const;

/** The fields a claim reads first: all a new key needs (a predecessor's token, when it has one, included). */
const CLAIM_READS = ["state", "token", "expires_at"] as const;
type ClaimRead = (typeof CLAIM_READS)[number];
/**
 * The fields a claim reads only when the key holds a record (to take it over, or to answer with it), in a second
 * HMGET, so that a replay reads no field twice. Each field an HMGET looks up costs Redis as much when it is absent:
 * a new key looked up seven before, and read three then.
 */
const OTHER_FIELDS = RECORD_FIELDS.filter((field) => !CLAIM_READS.includes(field as ClaimRead));
/** Where a field of `OTHER_FIELDS` is in the Lua table `others`. */
const other = (field: (typeof RECORD_FIELDS)[number]) => `others[${OTHER_FIELDS.indexOf(field) + 1}]`;

/**
 * How long after `expires_at` Redis deletes a record on its own. Reads already treat an expired record as absent;
 * native expiry only reclaims the memory, so it may lag. The margin leaves `purgeExpired` something to find.
 */
export const EXPIRY_GRACE_MS = 60_000;

const PRELUDE = `
-- A number as the decimal integer text a command is given. Redis 7.0 prints each Lua number a script passes to a
-- command with "%.17g", the C library's floating-point printer: about 5,000 instructions each, a tenth of a claim's
-- cost to the server (bench/redis-cost.mjs). "%d" costs a fraction of that.
local function int(n)
  return string.format("%d", n)
end
local function clock()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function append_steps(key, reply)
  local hash = redis.call("HGETALL", key)
  for i = 1, #hash, 2 do
    if string.sub(hash[i], 1, 5) == "step:" then
      table.insert(reply, hash[i])
      table.insert(reply, hash[i + 1])
    end
  end
  return reply
end
local function record(key)
  local reply = redis.call("HMGET", key, ${RECORD_FIELDS.map((field) => `"${field}"`).join(", ")})
  if (tonumber(reply[${RECORD_FIELDS.length}]) or 0) > 0 then append_steps(key, reply) end
  return reply
end
-- The record's expires_at while token holds a live in-flight claim on it, else nil.
local function held(key, token, now)
  local state, current, expires_at = unpack(redis.call("HMGET", key, "state", "token", "expires_at"))
  if state == "in-flight" and tonumber(current) == tonumber(token) and tonumber(expires_at) > now then
    return tonumber(expires_at)
  end
  return nil
end
-- On one new record in eight (by the clock, in ms), drops up to 16 index entries (KEYS[2]) of records Redis's own
-- expiry reclaimed, the oldest first, so the index stays about the size of what is stored without a purge (two entries
-- per claim at most, more than the one each claim adds). Records expire about in the order they were created, so the
-- oldest entry created over the grace period ago tells: while its record is there, the sweep stops after that one
-- look (the common case, so a claim pays little for it); once it is gone, the next 15 are looked at too. A record is
-- read at its key, the records' prefix (base) before the id in braces; on a Cluster slot being migrated a record that
-- moved cannot be read, and the sweep waits for a later claim. Everything is read before the one write, which never
-- empties the set (it holds the new id).
local function sweep(now, base)
  if now % 8 ~= 0 then return end
  local bound = int(now - ${EXPIRY_GRACE_MS})
  local oldest = redis.call("ZRANGEBYSCORE", KEYS[2], "-inf", bound, "LIMIT", "0", "1")[1]
  if not oldest or redis.pcall("EXISTS", base .. "{" .. oldest .. "}") ~= 0 then return end
  local gone, keys = {oldest}, {}
  local next = redis.call("ZRANGEBYSCORE", KEYS[2], "-inf", bound, "LIMIT", "1", "15")
  for i, id in ipairs(next) do keys[i] = base .. "{" .. id .. "}" end
  -- One EXISTS of all of them answers the common case here (all gone) in one command.
  local live = #keys > 0 and redis.pcall("EXISTS", unpack(keys)) or 0
  for i, id in ipairs(next) do
    if live == 0 or redis.pcall("EXISTS", keys[i]) == 0 then table.insert(gone, id) end
  end
  redis.call("ZREM", KEYS[2], unpack(gone))
end
-- The record's expires_at while token holds a live in-flight claim on it, else nil.
local function held(key, token, now)
  local state, current, expires_at = unpack(redis.call("HMGET", key, "state", "token", "expires_at"))
  if state == "in-flight" and tonumber(current) == tonumber(token) and tonumber(expires_at) > now then
    return tonumber(expires_at)
  end
  return nil
end
-- On one new record in four (by the clock, in ms), drops up to 8 index entries (KEYS[2]) of records Redis's own expiry
-- reclaimed: the oldest entries created over the grace period ago, whose records are gone. So the index stays about
-- the size of what is stored without a purge (up to two entries per claim, more than the one each claim adds) while
-- records expire in about the order they were created. A record is read at its key, the records' prefix (base)
-- before the id in braces; on a Cluster slot being migrated a record that moved cannot be read, and the sweep waits
-- for a later claim. The entries are read before the one write, which never empties the set (it holds the new id).
local function sweep(now, base)
  if now % 4 ~= 0 then return end
  local old = redis.call("ZRANGEBYSCORE", KEYS[2], "-inf", int(now - ${EXPIRY_GRACE_MS}), "LIMIT", "0", "8")
  if #old == 0 then return end
  local keys = {}
  for i, id in ipairs(old) do keys[i] = base .. "{" .. id .. "}" end
  -- One EXISTS of all of them answers the common case (none gone) in one command.
  local live = redis.pcall("EXISTS", unpack(keys))
  if type(live) ~= "number" or live == #old then return end
  local gone = {}
  for i, id in ipairs(old) do
    if live == 0 or redis.pcall("EXISTS", keys[i]) == 0 then table.insert(gone, id) end
  end
  if #gone > 0 then redis.call("ZREM", KEYS[2], unpack(gone)) end
end
`;

/**
 * KEYS: record, index. ARGV: fingerprint, lease, ttl, meta, run id, id, and work (JSON) when the run has one. Replies
 * {"claimed", token, recovered, run id, step field, step value, ...}, or the record (whose first field is its state).
 * The record format version is part of the script, not an argument: each argument costs the server about 1,500
 * instructions per call.
 */
const CLAIM = `
local key, fingerprint, id = KEYS[1], ARGV[1], ARGV[6]
local lease, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local now = clock()
local state, token, expires_at = unpack(redis.call("HMGET", key, ${CLAIM_READS.map((field) => `"${field}"`).join(", ")}))
if not state or tonumber(expires_at) <= now then
  -- A fresh token starts at the clock, so it never equals a token of a predecessor that expired and was deleted.
  local fresh = now
  if token and tonumber(token) >= fresh then fresh = tonumber(token) + 1 end
  local created, expires = int(now), int(now + ttl)
  local fields = {"state", "in-flight", "fingerprint", fingerprint, "token", int(fresh), "created_at", created,
    "lease_until", int(now + lease), "expires_at", expires, "meta", ARGV[4], "version", "${RECORD_FORMAT_VERSION}",
    "run_id", ARGV[5]}
  if ARGV[7] then
    table.insert(fields, "work")
    table.insert(fields, ARGV[7])
  end
  redis.call("HSET", key, unpack(fields))
  -- An expired predecessor's other fields (its work, steps and response) go: the fresh record starts a new run. Its
  -- key is overwritten, never deleted first: on a Cluster slot being migrated, the source node refuses a command on a
  -- key it no longer holds, so a DEL and then an HSET would fail the script halfway. Without a predecessor (a new key,
  -- the common case) there is nothing to look at.
  if state and redis.call("HLEN", key) > #fields / 2 then
    local written, stale = {}, {}
    for i = 1, #fields, 2 do written[fields[i]] = true end
    for _, field in ipairs(redis.call("HKEYS", key)) do
      if not written[field] then table.insert(stale, field) end
    end
    redis.call("HDEL", key, unpack(stale))
  end
  redis.call("PEXPIREAT", key, int(now + ttl + ${EXPIRY_GRACE_MS}))
  redis.call("ZADD", KEYS[2], created, id)
  sweep(now, string.sub(key, 1, #key - #id - 2))
  return {"claimed", fresh, 0, ARGV[5]}
end
local others = redis.call("HMGET", key, ${OTHER_FIELDS.map((field) => `"${field}"`).join(", ")})
local steps = (tonumber(${other("step_count")}) or 0) > 0
if state ~= "completed" and ${other("fingerprint")} == fingerprint then
  local lapsed = state == "in-flight" and tonumber(${other("lease_until")}) <= now
  if state == "released" or lapsed then
    local next_token = tonumber(token) + 1
    local expires = math.max(tonumber(expires_at), now + ttl)
    redis.call("HSET", key, "state", "in-flight", "token", int(next_token), "lease_until", int(now + lease), "expires_at",
      int(expires))
    -- A record an earlier oncely wrote has no run id: it gets one now, and keeps it from here on.
    local run_id = ${other("run_id")}
    if not run_id then
      run_id = ARGV[5]
      redis.call("HSET", key, "run_id", run_id)
    end
    redis.call("PEXPIREAT", key, int(expires + ${EXPIRY_GRACE_MS}))
    -- NX: a record an earlier oncely wrote, unindexed until now, joins the index here; others keep their score.
    redis.call("ZADD", KEYS[2], "NX", ${other("created_at")}, id)
    local reply = {"claimed", next_token, lapsed and 1 or 0, run_id}
    if steps then append_steps(key, reply) end
    return reply
  end
end
-- The record as it stands: the fields read first, and the others.
local reply = {${RECORD_FIELDS.map((field) => (CLAIM_READS.includes(field as ClaimRead) ? field : other(field))).join(", ")}}
if steps then append_steps(key, reply) end
return reply
`;

/** KEYS: record. ARGV: token, lease. Replies 1 when the token still holds the claim, else 0. */
const RENEW = `
local now = clock()
if not held(KEYS[1], ARGV[1], now) then return 0 end
redis.call("HSET", KEYS[1], "lease_until", int(now + tonumber(ARGV[2])))
return 1
`;

/**
 * KEYS: record. ARGV: token, ttl, status, headers, body, kept, and the body's encoding ("base64") when it is not the raw
 * bytes. Replies 1 when the token still held the claim.
 */
const COMPLETE = `
local now = clock()
if not held(KEYS[1], ARGV[1], now) then return 0 end
local expires = now + tonumber(ARGV[2])
redis.call("HSET", KEYS[1], "state", "completed", "lease_until", "0", "completed_at", int(now), "expires_at",
  int(expires), "status", ARGV[3], "headers", ARGV[4], "body", ARGV[5], "kept", ARGV[6])
if ARGV[7] then redis.call("HSET", KEYS[1], "body_encoding", ARGV[7]) end
redis.call("PEXPIREAT", KEYS[1], int(expires + ${EXPIRY_GRACE_MS}))
return 1
`;

/** KEYS: record. ARGV: token. Replies 1 when the token still held the claim. */
const RELEASE = `
if not held(KEYS[1], ARGV[1], clock()) then return 0 end
redis.call("HSET", KEYS[1], "state", "released", "lease_until", "0")
return 1
`;

/**
 * KEYS: record. ARGV: token, step name, step value ("<state>:<seq>[:<value>]"), most steps per run. Adds the step or
 * replaces a started one; a done or failed step stays as it is (the first result wins). Replies 1 when the token
 * holds the claim, 0 when it does not, -1 when the run already holds the most steps it may.
 */
const SAVE_STEP = `
local key, field = KEYS[1], "step:" .. ARGV[2]
if not held(key, ARGV[1], clock()) then return 0 end
local existing = redis.call("HGET", key, field)
if existing then
  if string.sub(existing, 1, 8) ~= "started:" then return 1 end
else
  if tonumber(redis.call("HGET", key, "step_count") or "0") >= tonumber(ARGV[4]) then return -1 end
  redis.call("HINCRBY", key, "step_count", "1")
end
redis.call("HSET", key, field, ARGV[3])
return 1
`;

/**
 * KEYS: record. ARGV: replays to add. Adds them to a live completed record only: a missing or expired key is never
 * re-created as a stub, an in-flight one is left alone, and the key's expiry stays. Replies 1 when counted, else 0.
 */
const COUNT_REPLAYS = `
local state, expires_at = unpack(redis.call("HMGET", KEYS[1], "state", "expires_at"))
if state ~= "completed" or tonumber(expires_at) <= clock() then return 0 end
redis.call("HINCRBY", KEYS[1], "replays", ARGV[1])
return 1
`;

/** KEYS: record. Replies the record, or nil when absent or expired by the server's clock. */
const GET = `
local expires_at = redis.call("HGET", KEYS[1], "expires_at")
if not expires_at or tonumber(expires_at) <= clock() then return nil end
return record(KEYS[1])
`;

/** KEYS: record, index. ARGV: id. Deletes the record and its index entry; replies 1 if there was a record. */
const DELETE = `
local existed = redis.call("UNLINK", KEYS[1])
redis.call("ZREM", KEYS[2], ARGV[1])
return existed
`;

export interface Script {
  /** The command name on the client: the script's hash is part of it, so two oncely versions never clash. */
  name: string;
  lua: string;
  /** SHA-1 of `lua`, hex: what EVALSHA names it by. */
  sha: string;
  /** How many of its arguments are keys. */
  keys: number;
}

/** A script of `body` after the shared prelude. */
export function script(label: string, body: string, keys: number): Script {
  const lua = PRELUDE + body;
  const sha = sha1(lua);
  return { name: `oncely_${label}_${sha.slice(0, 10)}`, lua, sha, keys };
}

export const scripts = {
  claim: script("claim", CLAIM, 2),
  renew: script("renew", RENEW, 1),
  complete: script("complete", COMPLETE, 1),
  release: script("release", RELEASE, 1),
  saveStep: script("step", SAVE_STEP, 1),
  countReplays: script("replays", COUNT_REPLAYS, 1),
  get: script("get", GET, 1),
  delete: script("delete", DELETE, 2),
};
