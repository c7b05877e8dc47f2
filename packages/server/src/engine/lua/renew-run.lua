-- Renews the lease of one run its owner still executes (docs/redis.md, "Runs"). Only the owner node
-- renews: a run that ended, was forgotten, or is registered to another node is not renewed, and neither
-- is one whose lease already lapsed: other nodes may have admitted runs in its place
-- (--max-runs-per-user), so bringing it back could overshoot the limit; it is left to end.
--
-- KEYS[1]  `<prefix>{u:<id>}:runs`, KEYS[2] `<prefix>{u:<id>}:run-info` (as start-run.lua)
-- ARGV[1]  run id, ARGV[2] node, ARGV[3] lease in ms, ARGV[4] how long a lapsed run is kept (start-run.lua)
-- Returns 1 when renewed, 0 when the run is not (any more) this node's.
redis.replicate_commands() -- Redis 6.x: allow TIME before writes (a no-op from Redis 7)

local runs, info = KEYS[1], KEYS[2]
local id, lease, retain = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local lease_end = redis.call('ZSCORE', runs, id)
if not lease_end then return 0 end
local record = redis.call('HGET', info, id)
if not record or cjson.decode(record).node ~= ARGV[2] then return 0 end
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if tonumber(lease_end) <= now_ms then return 0 end
redis.call('ZADD', runs, 'XX', now_ms + lease, id)
for _, key in ipairs({ runs, info }) do
  if redis.call('PTTL', key) < lease + retain then redis.call('PEXPIRE', key, lease + retain) end
end
return 1
