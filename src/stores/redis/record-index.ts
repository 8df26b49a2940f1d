import { type Script, script } from "./scripts.js";

/**
 * The index `RedisStore` keeps per prefix, so that `list`, `aggregate` and `purgeExpired` read what oncely stored and
 * never walk the server's keyspace: one sorted set of record ids, `<prefix>{<shard>}:created`, scored by `created_at`
 * (the order `list` walks, newest first, and where `since` cuts). A claim that creates a record adds its id and
 * `delete` removes it, in the same script; a record's state and expiry are read from the record itself, so a change of
 * state (complete, release, a takeover) costs the index nothing. The walks read each record they pass.
 *
 * oncely 0.1.0 also kept three sets per shard scored by `expires_at`, one per state (`:in-flight`, `:released`,
 * `:completed`), which cost every new key about 55,000 of Redis's instructions in index writes. Nothing reads them now;
 * `purgeExpired` deletes them where it finds them (a process of that version, during a rolling upgrade, writes them
 * again, and the next purge drops them again).
 *
 * A Redis script may only touch keys of one Cluster slot, and a record's slot is that of its id (`<prefix>{<id>}`), so
 * on a Cluster each slot has its own index: `<shard>` is a tag that hashes to the record's slot. A standalone Redis
 * has one index, shard `index`.
 */

/** The shard of a standalone Redis: its one index. */
const STANDALONE_SHARD = "index";
const SLOTS = 16_384;

/** The key of one shard's index. */
export function indexKey(prefix: string, shard: string): string {
  return `${prefix}{${shard}}:created`;
}

/** The keys of one shard's index, then of the state sets oncely 0.1.0 kept beside it (which `purge` deletes). */
export function indexKeys(prefix: string, shard: string): [string, string, string, string] {
  const base = `${prefix}{${shard}}:`;
  return [`${base}created`, `${base}in-flight`, `${base}released`, `${base}completed`];
}

/**
 * The shard whose index holds the record `id`, on a Cluster the one in the slot of the record's key. Redis hashes a
 * key by its hash tag: from the first `{` (the one the store puts before the id: a prefix has no braces) to the first
 * `}` after it. That is the whole id, or the id up to its own first `}`; an id that starts with `}` leaves the tag
 * empty, and then Redis hashes the whole key, `fullKey` (with the client's `keyPrefix`).
 */
export function shardOf(id: string, cluster: boolean, fullKey: string): string {
  if (!cluster) return STANDALONE_SHARD;
  const close = id.indexOf("}");
  const slot = close === 0 ? keySlot(fullKey) : keySlot(close === -1 ? id : id.slice(0, close));
  return slotTags()[slot]!;
}

/** Every shard that may hold an index: one per Cluster slot (in slot order), or the standalone one. */
export function allShards(cluster: boolean): readonly string[] {
  return cluster ? slotTags() : [STANDALONE_SHARD];
}

/**
 * ARGV: the index keys' prefix (the client's keyPrefix and the store's prefix), then shard tags of slots this node
 * serves. Replies the tags whose index exists. Sent as a plain EVAL to one Cluster master, it asks after thousands of
 * slots in one call, where a script per slot would cost a round trip each: Redis lets a script without flags read
 * keys of any slot its node serves.
 */
export const NON_EMPTY_SHARDS = `
local found = {}
for i = 2, #ARGV do
  local base = ARGV[1] .. "{" .. ARGV[i] .. "}:"
  -- On a slot being migrated, the node refuses to look at keys it does not hold: the slot is listed, and the walk's
  -- own script for it is redirected and retried.
  local count = redis.pcall("EXISTS", base .. "created", base .. "in-flight", base .. "released", base .. "completed")
  if type(count) ~= "number" or count > 0 then table.insert(found, ARGV[i]) end
end
return found
`;

let tags: string[] | undefined;

/**
 * For each of the 16,384 Cluster slots, a hash tag that lands in it (`index:<n>` for the smallest n that does). Found
 * once per process by trying n = 0, 1, 2, ... (about 170,000 tries, some tens of milliseconds), only on a Cluster.
 */
function slotTags(): string[] {
  if (tags) return tags;
  const found: string[] = new Array(SLOTS);
  let missing = SLOTS;
  for (let n = 0; missing > 0; n++) {
    const tag = `${STANDALONE_SHARD}:${n.toString(36)}`;
    const slot = crc16(tag) % SLOTS;
    if (found[slot] === undefined) {
      found[slot] = tag;
      missing--;
    }
  }
  tags = found;
  return found;
}

/** The Cluster slot of a hash tag's content: CRC16 (XMODEM) of its UTF-8 bytes, modulo 16,384. */
export function keySlot(tag: string): number {
  return crc16(tag) % SLOTS;
}

/** UTF-8 without `Buffer`: the Upstash store shares this module on runtimes that have no Node.js globals. */
const encoder = new TextEncoder();

function crc16(text: string): number {
  let crc = 0;
  for (const byte of encoder.encode(text)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/**
 * The index scripts' own prelude. KEYS[1] is one shard's index; ARGV[1] the records' key prefix (the client's keyPrefix
 * and the store's prefix), so `ARGV[1] .. "{" .. id .. "}"` is a record's key, in the index's slot.
 */
const INDEX = `
-- Calls visit(id, score) on the index's entries after the cursor (score from, id after; "" for none) up to bound, newest
-- first or oldest first, until visit returns true; returns true when the walk reached the end. Entries of one score
-- come in id order (descending when newest first), so those at the cursor's score up to its id are skipped.
local function walk(newest_first, from, after, bound, visit)
  local range = newest_first and "ZREVRANGEBYSCORE" or "ZRANGEBYSCORE"
  local offset = 0
  while true do
    local batch = redis.call(range, KEYS[1], from, bound, "WITHSCORES", "LIMIT", offset, 100)
    if #batch == 0 then return true end
    offset = offset + #batch / 2
    for i = 1, #batch, 2 do
      local id, score = batch[i], batch[i + 1]
      if after == "" or score ~= from or (newest_first and id < after) or (not newest_first and id > after) then
        if visit(id, score) then return false end
      end
    end
  end
end
-- The state and expires_at of the record id, nil when it is gone; false when it cannot be read here (on a Cluster
-- slot being migrated, a record that already moved): the script then answers TRYAGAIN, before any write of its own.
local function read(id)
  local fields = redis.pcall("HMGET", ARGV[1] .. "{" .. id .. "}", "state", "expires_at")
  if fields.err then return false end
  return true, fields[1], tonumber(fields[2])
end
local MOVED = "TRYAGAIN a record of this slot is being migrated"
`;

/**
 * KEYS: index. ARGV: records' prefix, state ("" for any), max created_at ("+inf" or a score), the id the last page
 * ended with at that score ("" for none), min created_at ("-inf" or since), limit, budget. Walks the index newest first
 * and replies {done, score, id, id1, score1, ...}: live records in the state wanted, at most `limit`. `done` is 1 when
 * the walk reached the end; otherwise (score, id) is where the next page starts after. Examines at most `budget`
 * entries, so one call stays short.
 */
const LIST_PAGE = `
local now = clock()
local wanted, limit, budget = ARGV[2], tonumber(ARGV[6]), tonumber(ARGV[7])
local reply, count, moved = {0, ARGV[3], ARGV[4]}, 0, false
local done = walk(true, ARGV[3], ARGV[4], ARGV[5], function(id, score)
  local ok, state, expires_at = read(id)
  if not ok then
    moved = true
    return true
  end
  if expires_at and expires_at > now and (wanted == "" or state == wanted) then
    table.insert(reply, id)
    table.insert(reply, score)
    count = count + 1
  end
  reply[2], reply[3] = score, id
  budget = budget - 1
  return count >= limit or budget <= 0
end)
if moved then return redis.error_reply(MOVED) end
if done then reply[1] = 1 end
return reply
`;

/**
 * KEYS: index. ARGV: records' prefix, window (ms), the cursor (min created_at or "-inf", and the id at that score or
 * ""), budget. Walks up to `budget` entries oldest first and replies {done, score, id, in-flight, released,
 * completed, expiring, expired, oldest, newest}: live records per state, live records expiring within the window,
 * entries of records expired or gone (not purged yet), and the created_at of the first and last live record seen (-1
 * for none), by the server's clock; (score, id) is where the next page starts after.
 */
const AGGREGATE = `
local now = clock()
local window, budget = tonumber(ARGV[2]), tonumber(ARGV[5])
local states = {["in-flight"] = 0, released = 0, completed = 0}
local expiring, expired, oldest, newest = 0, 0, -1, -1
local last_score, last_id, moved = ARGV[3], ARGV[4], false
local done = walk(false, ARGV[3], ARGV[4], "+inf", function(id, score)
  local ok, state, expires_at = read(id)
  if not ok then
    moved = true
    return true
  end
  if not expires_at or expires_at <= now then
    expired = expired + 1
  elseif states[state] then
    states[state] = states[state] + 1
    if expires_at <= now + window then expiring = expiring + 1 end
    if oldest == -1 then oldest = score end
    newest = score
  end
  last_score, last_id = score, id
  budget = budget - 1
  return budget <= 0
end)
if moved then return redis.error_reply(MOVED) end
return {done and 1 or 0, last_score, last_id, states["in-flight"], states.released, states.completed, expiring, expired,
  oldest, newest}
`;

/**
 * KEYS: index, then the state sets of oncely 0.1.0 (in-flight, released, completed). ARGV: records' prefix, most to
 * delete, the cursor (as for AGGREGATE), budget. Walks up to `budget` entries oldest first, deletes the records among
 * them that are expired by their own expires_at (an id claimed again meanwhile is live, and stays), and drops their
 * entries; a record Redis's own expiry already reclaimed counts as purged too. On its first page it also deletes the
 * state sets oncely 0.1.0 kept. Replies {purged, done, score, id}.
 *
 * It reads everything before its first write, and then writes each key once: on a Cluster slot being migrated, the
 * source node refuses a command on a key it does not hold (a record already moved), and the script must fail before
 * it writes, never halfway. A record that moved makes it answer TRYAGAIN, as Redis itself does for a command whose
 * keys are split between two nodes; the store retries it.
 */
const PURGE = `
local now = clock()
local most, budget = tonumber(ARGV[2]), tonumber(ARGV[5])
local drop, unlink = {}, {}
local last_score, last_id, moved = ARGV[3], ARGV[4], false
local done = walk(false, ARGV[3], ARGV[4], "+inf", function(id, score)
  local ok, _, expires_at = read(id)
  if not ok then
    moved = true
    return true
  end
  if not expires_at or expires_at <= now then
    table.insert(drop, id)
    if expires_at then table.insert(unlink, ARGV[1] .. "{" .. id .. "}") end
  end
  last_score, last_id = score, id
  budget = budget - 1
  return #drop >= most or budget <= 0
end)
if moved then return redis.error_reply(MOVED) end
local legacy = {}
if ARGV[3] == "-inf" and ARGV[4] == "" then
  for i = 2, 4 do
    if redis.call("EXISTS", KEYS[i]) == 1 then table.insert(legacy, KEYS[i]) end
  end
end
if #drop > 0 then redis.call("ZREM", KEYS[1], unpack(drop)) end
for _, key in ipairs(unlink) do redis.call("UNLINK", key) end
if #legacy > 0 then redis.call("UNLINK", unpack(legacy)) end
return {#drop, done and 1 or 0, last_score, last_id}
`;

/**
 * KEYS: record, index. ARGV: id. Puts a record into the index as it stands (an earlier oncely wrote it without one);
 * replies 1, or 0 when the key holds no record.
 */
const REINDEX = `
local state, created_at, expires_at = unpack(redis.call("HMGET", KEYS[1], "state", "created_at", "expires_at"))
local known = state == "in-flight" or state == "released" or state == "completed"
if not known or not created_at or not expires_at then return 0 end
redis.call("ZADD", KEYS[2], created_at, ARGV[1])
return 1
`;

export const indexScripts: Record<"listPage" | "aggregate" | "purge" | "reindex", Script> = {
  listPage: script("list", INDEX + LIST_PAGE, 1),
  aggregate: script("aggregate", INDEX + AGGREGATE, 1),
  purge: script("purge", INDEX + PURGE, 4),
  reindex: script("reindex", REINDEX, 2),
};

/** Entries a script examines per call: each call stays well under a millisecond of the server's time. */
export const SCRIPT_BUDGET = 1_000;
