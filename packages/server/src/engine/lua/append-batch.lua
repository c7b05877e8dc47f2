-- Stores the appends of one turn of the engine's event loop (issue 20) in one script call: each event by
-- append.lua's own code, in call order, so each user's events keep their order and each keeps the seq, the
-- trim and the publish of a plain append. This file is not run alone: the engine prepends append.lua's
-- source wrapped as `local function append_one(KEYS, ARGV) … end` (LuaScript.loadAll). On a Redis Cluster
-- one call names the keys of one hash slot only: the engine groups the appends by slot.
--
-- KEYS      each append's meta key `<prefix>{u:<user_id>}:meta`, in order. The user's other keys are named
--           from it as redis-keys.ts names them: the same `<prefix>{u:<user_id>}` and a suffix, so they share
--           its hash tag and cluster slot (a test stores the same events both ways and compares the keys).
-- ARGV[1..5] what every append of the call shares, as append.lua's ARGV[1..4] and ARGV[8]: a fresh epoch
--           candidate (one per call is enough: only a user whose data is gone takes it, and one call has
--           no data loss in it), history size, history ttl ms, meta ttl ms, history max bytes
-- ARGV[6]   the appends as one JSON array (cjson), one array of strings per append: append.lua's ARGV[6..7]
--           (frame head, frame tail), then, for an event of a run, its ARGV[9..]. One argument instead of
--           up to 35 per event: the gateway encodes one string per call.
-- Returns the replies as one JSON array (cjson), one per append in order: append.lua's reply ([seq, epoch] or
-- a fenced append's refusal), or {"err": message} for an append that failed (what it wrote before failing
-- stays, as after a failed plain append; the others are not affected). One string, not nested replies:
-- the gateway decodes one value per call instead of three per event.
local epoch, size, ttl, meta_ttl, max_bytes = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local entries = cjson.decode(ARGV[6])
local replies = {}
for i, entry in ipairs(entries) do
  local meta = KEYS[i]
  -- `<prefix>{u:<user_id>}` of `<prefix>{u:<user_id>}:meta`
  local user = string.sub(meta, 1, -6)
  local keys = {meta, user .. ':log', user .. ':sizes'}
  local args = {epoch, size, ttl, meta_ttl, user .. ':events', entry[1], entry[2], max_bytes}
  for a = 3, #entry do args[a + 6] = entry[a] end
  if #entry > 2 then
    -- An event of a run: append.lua's KEYS[4..15] for its run (ARGV[9]) and approval id (ARGV[22]).
    local snap = user .. ':snap:' .. args[9]
    keys[4], keys[5], keys[6] = user .. ':runs', user .. ':run-info', user .. ':runs-ended'
    keys[7], keys[8], keys[9] = snap, snap .. ':text', snap .. ':reasoning'
    keys[10], keys[11] = snap .. ':tools', snap .. ':approvals'
    keys[12], keys[13] = user .. ':snaps-active', user .. ':snaps'
    keys[14], keys[15] = user .. ':approval:' .. args[22], user .. ':approvals-pending'
  end
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
