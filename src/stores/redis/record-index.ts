import { type Script, script } from "./scripts.js";

/**
 * The index `RedisStore` keeps per prefix, so that `list`, `aggregate` and `purgeExpired` read what oncely stored and
 * never walk the server's keyspace. One index is four sorted sets whose members are record ids:
 *
 * - `<prefix>{<shard>}:created`, scored by `created_at`: the order `list` walks, newest first, and where `since` cuts;
 * - `<prefix>{<shard>}:in-flight`, `:released`, `:completed`, scored by `expires_at`: counts per state, what is
 *   expired or about to be, and what `purgeExpired` deletes.
 *
 * The scripts that create a record, change its state or delete it update the index in the same script, so the index
 * never disagrees with the records. A Redis script may only touch keys of one Cluster slot, and a record's slot is
 * that of its id (`<prefix>{<id>}`), so on a Cluster each slot has its own index: `<shard>` is a tag that hashes to the
 * record's slot. A standalone Redis has one index, shard `index`.
 */

/** The shard of a standalone Redis: its one index. */
const STANDALONE_SHARD = "index";
const SLOTS = 16_384;

/** The keys of one shard's index, in the order the scripts take them: created, in-flight, released, completed. */
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

/** The index scripts' own prelude: KEYS are one shard's index (created, in-flight, released, completed). */
const INDEX = `
-- The expires_at the index holds for id, or nil when no state set has it.
local function expiry_of(id)
  for i = 2, 4 do
    local score = redis.call("ZSCORE", KEYS[i], id)
    if score then return tonumber(score) end
  end
  return nil
end
`;

/**
 * KEYS: index (4). ARGV: state ("" for any), max created_at ("+inf" or a score), the id the last page ended with at
 * that score ("" for none), min created_at ("-inf" or since), limit, budget. Walks the created set newest first
 * (equal scores in descending id order, as ZREVRANGEBYSCORE gives them) and replies {done, score, id, id1, score1,
 * ...}: live records in the state wanted, at most `limit`. `done` is 1 when the walk reached the end; otherwise
 * (score, id) is where the next page starts after. Examines at most `budget` entries, so one call stays short.
 */
const LIST_PAGE = `
local now = clock()
local wanted, max, after, min = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local limit, budget = tonumber(ARGV[5]), tonumber(ARGV[6])
local state_key = ({["in-flight"] = KEYS[2], released = KEYS[3], completed = KEYS[4]})[wanted]
local reply, count, offset = {0, max, after}, 0, 0
while true do
  local batch = redis.call("ZREVRANGEBYSCORE", KEYS[1], max, min, "WITHSCORES", "LIMIT", offset, 100)
  if #batch == 0 then
    reply[1] = 1
    return reply
  end
  offset = offset + #batch / 2
  for i = 1, #batch, 2 do
    local id, score = batch[i], batch[i + 1]
    -- Entries at the cursor's score that the last page already passed (ids at or above its last one) are skipped.
    if after == "" or score ~= max or id < after then
      local expires_at
      if state_key then expires_at = tonumber(redis.call("ZSCORE", state_key, id)) else expires_at = expiry_of(id) end
      if expires_at and expires_at > now then
        table.insert(reply, id)
        table.insert(reply, score)
        count = count + 1
      end
      reply[2], reply[3] = score, id
      budget = budget - 1
      if count >= limit or budget <= 0 then return reply end
    end
  end
end
`;

/**
 * KEYS: index (4). ARGV: window (ms). Replies {in-flight, released, completed, expiring, expired}: live records per
 * state, live records expiring within the window, and expired entries not purged yet (by the server's clock).
 */
const AGGREGATE = `
local now = clock()
local reply, expiring, expired = {}, 0, 0
for i = 2, 4 do
  table.insert(reply, redis.call("ZCOUNT", KEYS[i], "(" .. now, "+inf"))
  expiring = expiring + redis.call("ZCOUNT", KEYS[i], "(" .. now, now + tonumber(ARGV[1]))
  expired = expired + redis.call("ZCOUNT", KEYS[i], "-inf", now)
end
table.insert(reply, expiring)
table.insert(reply, expired)
return reply
`;

/**
 * KEYS: index (4). ARGV: "oldest" or "newest", offset, budget. Replies {1, created_at} of the oldest (newest) live
 * record at or after `offset` in that order, or {0, next offset} when `budget` entries held none, or {0, -1} at the
 * end. Expired entries stay in the created set until swept or purged, hence the walk.
 */
const FIRST_LIVE = `
local now = clock()
local offset, budget = tonumber(ARGV[2]), tonumber(ARGV[3])
local range = ARGV[1] == "oldest" and "ZRANGE" or "ZREVRANGE"
local entries = redis.call(range, KEYS[1], offset, offset + budget - 1, "WITHSCORES")
for i = 1, #entries, 2 do
  local expires_at = expiry_of(entries[i])
  if expires_at and expires_at > now then return {1, entries[i + 1]} end
end
if #entries < budget * 2 then return {0, -1} end
return {0, offset + budget}
`;

/**
 * KEYS: index (4). ARGV: the records' key prefix (the client's keyPrefix and the store's prefix), most to delete.
 * Deletes records the index holds as expired, re-checking each record's own expires_at (an id claimed again meanwhile
 * stays, and its entry is corrected), and drops their entries; a record Redis's own expiry already reclaimed counts
 * as purged too. The records share the index's slot. Replies {purged, entries examined}.
 *
 * It reads everything before its first write, and then writes each key once, additions before removals: on a Cluster
 * slot being migrated, the source node refuses a command on a key it does not hold (a record already moved, or a set
 * this script emptied), and the script must fail before it writes, never halfway. A record that moved makes it answer
 * TRYAGAIN, as Redis itself does for a command whose keys are split between two nodes; the store retries it.
 */
const PURGE = `
local now = clock()
local budget = tonumber(ARGV[2])
local SET_OF = {["in-flight"] = 2, released = 3, completed = 4}
local found, records = {}, {}
for i = 2, 4 do
  if budget <= 0 then break end
  local ids = redis.call("ZRANGEBYSCORE", KEYS[i], "-inf", now, "LIMIT", 0, budget)
  for _, id in ipairs(ids) do
    if not records[id] then
      local fields = redis.pcall("HMGET", ARGV[1] .. "{" .. id .. "}", "state", "expires_at")
      if fields.err then return redis.error_reply("TRYAGAIN a record of this slot is being migrated") end
      records[id] = fields
    end
    table.insert(found, {i, id})
  end
  budget = budget - #ids
end
local add, drop, purged = {{}, {}, {}, {}}, {{}, {}, {}, {}}, {}
for _, entry in ipairs(found) do
  local i, id = entry[1], entry[2]
  local state, expires_at = records[id][1], records[id][2]
  local live = SET_OF[state]
  if not expires_at or tonumber(expires_at) <= now then
    live = nil
    if not purged[id] then
      purged[id] = expires_at and "unlink" or "gone"
      table.insert(drop[1], id)
    end
  elseif live then
    table.insert(add[live], expires_at)
    table.insert(add[live], id)
  end
  if live ~= i then table.insert(drop[i], id) end
end
for i = 2, 4 do
  if #add[i] > 0 then redis.call("ZADD", KEYS[i], unpack(add[i])) end
end
for i = 1, 4 do
  if #drop[i] > 0 then redis.call("ZREM", KEYS[i], unpack(drop[i])) end
end
for id, fate in pairs(purged) do
  if fate == "unlink" then redis.call("UNLINK", ARGV[1] .. "{" .. id .. "}") end
end
return {#drop[1], #found}
`;

/**
 * KEYS: record, index (4). ARGV: id. Puts a record into the index as it stands (an earlier oncely wrote it without
 * one); replies 1, or 0 when the key holds no record.
 */
const REINDEX = `
local state, created_at, expires_at = unpack(redis.call("HMGET", KEYS[1], "state", "created_at", "expires_at"))
if not STATE_SET[state] or not created_at or not expires_at then return 0 end
for other, i in pairs(STATE_SET) do
  if other ~= state then redis.call("ZREM", KEYS[i], ARGV[1]) end
end
redis.call("ZADD", KEYS[STATE_SET[state]], expires_at, ARGV[1])
redis.call("ZADD", KEYS[2], created_at, ARGV[1])
return 1
`;

export const indexScripts: Record<"listPage" | "aggregate" | "firstLive" | "purge" | "reindex", Script> = {
  listPage: script("list", INDEX + LIST_PAGE, 4),
  aggregate: script("aggregate", INDEX + AGGREGATE, 4),
  firstLive: script("first", INDEX + FIRST_LIVE, 4),
  purge: script("purge", INDEX + PURGE, 4),
  reindex: script("reindex", REINDEX, 5),
};

/** Entries a script examines per call: each call stays well under a millisecond of the server's time. */
export const SCRIPT_BUDGET = 1_000;
