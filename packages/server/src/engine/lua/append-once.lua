-- Appends a publish at most once per idempotency key (docs/protocol.md D): the record is checked, the
-- events appended and the record written in one atomic step, so a repeat sees either nothing or both,
-- and a crash after the append cannot lose the record. This file is not run alone: the engine prepends
-- append.lua's source wrapped as `local function append_one(KEYS, ARGV) … end` (LuaScript.loadAll), so
-- every event goes through exactly the script a plain append runs.
--
-- KEYS[1]   the record `<prefix>{u:<first event's user>}:publish-key:<key>`
-- KEYS[2..] the KEYS of each append, one append after the other
-- ARGV[1]   the fingerprint of the request body
-- ARGV[2]   how long the record is kept, in ms
-- ARGV[3]   the number of appends n
-- ARGV[4..3+2n] for each append: its key count, then its argument count
-- then the ARGV of each append, one append after the other
-- Returns {'stored' or 'repeat', record}, the record being JSON {"f": fingerprint, "r": [[seq, epoch], …]};
-- or 'conflict' when the key was used with another fingerprint. Nothing is stored unless 'stored'.
local held = redis.call('GET', KEYS[1])
if held then
  if cjson.decode(held).f ~= ARGV[1] then return 'conflict' end
  return {'repeat', held}
end

local n = tonumber(ARGV[3])
local key_at, arg_at = 2, 4 + 2 * n
local results = {}
for i = 1, n do
  local key_count, arg_count = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local keys, args = {}, {}
  for k = 1, key_count do keys[k] = KEYS[key_at + k - 1] end
  for a = 1, arg_count do args[a] = ARGV[arg_at + a - 1] end
  key_at, arg_at = key_at + key_count, arg_at + arg_count
  results[i] = append_one(keys, args)
end

local record = cjson.encode({f = ARGV[1], r = results})
redis.call('SET', KEYS[1], record, 'PX', ARGV[2])
return {'stored', record}
