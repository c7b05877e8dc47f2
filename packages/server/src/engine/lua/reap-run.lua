-- Ends a run whose lease lapsed (the reaper, docs/agents.md "Runs across nodes") with its questions still
-- pending resolved `cancelled` first (docs/protocol.md G), all in one atomic step: the run's approvals get
-- their one `approval_resolved` and the run its one terminal together, or nothing is stored. This file is
-- not run alone: the engine prepends append.lua's source wrapped as `local function append_one(KEYS, ARGV)
-- … end` (LuaScript.loadAll), so every event goes through exactly the script a plain append runs.
--
-- KEYS      the KEYS of each append, one append after the other: each pending approval's `approval_resolved`
--           (append.lua with approval op 'resolve', which stores nothing for an approval no longer
--           pending), then the run's terminal (append.lua in mode 'reap')
-- ARGV[1]   the number of appends n (the terminal last)
-- ARGV[2..1+2n] for each append: its key count, then its argument count
-- then the ARGV of each append, one append after the other
-- Returns the terminal's reply, as append.lua's: {seq, epoch}, or the reason it was refused ('live',
-- 'not_registered'), in which case nothing was stored.
redis.replicate_commands() -- Redis 6.x: allow TIME before writes (a no-op from Redis 7)

local n = tonumber(ARGV[1])
local key_at, arg_at = 1, 2 + 2 * n
local calls = {}
for i = 1, n do
  local key_count, arg_count = tonumber(ARGV[2 * i]), tonumber(ARGV[1 + 2 * i])
  local keys, args = {}, {}
  for k = 1, key_count do keys[k] = KEYS[key_at + k - 1] end
  for a = 1, arg_count do args[a] = ARGV[arg_at + a - 1] end
  key_at, arg_at = key_at + key_count, arg_at + arg_count
  calls[i] = { keys = keys, args = args }
end

-- The terminal's own check (append.lua, mode 'reap') first: the questions are answered only for a run
-- this call ends.
local terminal = calls[n]
local runs, info, run_id = terminal.keys[4], terminal.keys[5], terminal.args[9]
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lease_end = redis.call('ZSCORE', runs, run_id)
if redis.call('HGET', info, run_id) and lease_end and tonumber(lease_end) <= now_ms then
  for i = 1, n - 1 do append_one(calls[i].keys, calls[i].args) end
end
return append_one(terminal.keys, terminal.args)
