-- Ends one run of its owner node (docs/redis.md, "Runs"): it stops counting against --max-runs-per-user
-- and leaves the active list, and an ended marker is kept for `retain` ms. The marker is what the
-- scripts that come next in issue 15 (the reaper's conditional terminal append, fencing) check in the
-- same atomic step, so that a run ends exactly once.
--
-- KEYS[1]  `<prefix>{u:<id>}:runs`, KEYS[2] `<prefix>{u:<id>}:run-info` (as start-run.lua)
-- KEYS[3]  `<prefix>{u:<id>}:runs-ended`: sorted set of the user's ended runs, scored by when they ended
-- ARGV[1]  run id, ARGV[2] node, ARGV[3] how long the ended marker is kept, in ms
-- Returns 1 when this call ended the run, 0 when it had ended already, is unknown, or is another node's.
redis.replicate_commands() -- Redis 6.x: allow TIME before writes (a no-op from Redis 7)

local runs, info, ended = KEYS[1], KEYS[2], KEYS[3]
local id, retain = ARGV[1], tonumber(ARGV[3])
local record = redis.call('HGET', info, id)
if not record or cjson.decode(record).node ~= ARGV[2] then return 0 end
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREM', runs, id)
redis.call('HDEL', info, id)
redis.call('ZREMRANGEBYSCORE', ended, '-inf', now_ms - retain)
redis.call('ZADD', ended, now_ms, id)
redis.call('PEXPIRE', ended, retain)
return 1
