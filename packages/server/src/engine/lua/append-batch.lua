-- Stores the appends of one turn of the engine's event loop (issue 20) in one script call: each event by
-- append.lua's own code, in call order, so each user's events keep their order and each keeps the seq, the
-- trim and the publish of a plain append. This file is not run alone: the engine prepends append.lua's
-- source wrapped as `local function append_one(KEYS, ARGV) … end` (LuaScript.loadAll). On a Redis Cluster
-- one call names the keys of one hash slot only: the engine groups the appends by slot.
--
-- ARGV[1]   the number of appends n
-- ARGV[2..6] what every append of the call shares, as append.lua's ARGV[1..4] and ARGV[8]: a fresh epoch
--           candidate (one per call is enough: only a user whose data is gone takes it, and one call has
--           no data loss in it), history size, history ttl ms, meta ttl ms, history max bytes
-- then for each append: its key count, its own argument count, and its own arguments: append.lua's
--           ARGV[5..7] (channel, frame head, frame tail) and ARGV[9..]
-- KEYS      the KEYS of each append, one append after the other
-- Returns the replies as one JSON array (cjson), one per append in order: append.lua's reply ([seq, epoch] or
-- a fenced append's refusal), or {"err": message} for an append that failed (what it wrote before failing
-- stays, as after a failed plain append; the others are not affected). One string, not nested replies:
-- the gateway decodes one value per call instead of three per event.
local n = tonumber(ARGV[1])
local epoch, size, ttl, meta_ttl, max_bytes = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local key_at, at = 1, 7
local replies = {}
for i = 1, n do
  local key_count, arg_count = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
  local keys = {}
  for k = 1, key_count do keys[k] = KEYS[key_at + k - 1] end
  key_at = key_at + key_count
  local args = {epoch, size, ttl, meta_ttl, ARGV[at + 2], ARGV[at + 3], ARGV[at + 4], max_bytes}
  for a = 4, arg_count do args[a + 5] = ARGV[at + a + 1] end
  at = at + 2 + arg_count
  local ok, reply = pcall(append_one, keys, args)
  if ok then
    replies[i] = reply
  elseif type(reply) == 'table' and reply.err then
    replies[i] = {err = reply.err}
  else
    replies[i] = {err = tostring(reply)}
  end
end
return cjson.encode(replies)
