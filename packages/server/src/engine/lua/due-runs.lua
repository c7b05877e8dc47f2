-- The reaper's look at one user (docs/redis.md, "Runs"): which of the user's registered runs have a lease
-- that lapsed, and when the user's earliest lease ends, so the run index can say when to look again.
-- Reads only; each lapsed run is then ended by append.lua in mode 'reap', which checks again.
--
-- KEYS[1]  `<prefix>{u:<id>}:runs`, KEYS[2] `<prefix>{u:<id>}:run-info` (as start-run.lua)
-- ARGV[1]  at most this many lapsed run ids
-- Returns {earliest lease end of any registered run (Redis time, ms) or -1 when none, then for each lapsed
-- run: its id, its JSON record {agent, node, started_at, key?}}.
redis.replicate_commands() -- Redis 6.x: allow TIME (a no-op from Redis 7)

local runs, info = KEYS[1], KEYS[2]
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local first = redis.call('ZRANGE', runs, 0, 0, 'WITHSCORES')
if #first == 0 then return {-1} end
local out = {tonumber(first[2])}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', runs, '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[1]))) do
  local record = redis.call('HGET', info, id)
  if record then
    out[#out + 1] = id
    out[#out + 1] = record
  end
end
return out
