-- Asks the owner node of one of a user's runs to cancel it (docs/redis.md, "Runs"; docs/agents.md, "Runs
-- across nodes"): looks the run up in the registry and publishes the request on the owner's control
-- channel in the same step, so the node it reaches is the owner the registry held at that moment. The
-- run's keys are the user's, so another user's run is simply not found.
--
-- KEYS[1]  `<prefix>{u:<id>}:runs`, KEYS[2] `<prefix>{u:<id>}:run-info` (as start-run.lua)
-- KEYS[3]  `<prefix>{u:<id>}:runs-ended` (as end-run.lua)
-- ARGV[1]  run id, ARGV[2] user id, ARGV[3] the control channels' prefix (`<prefix>node:`),
-- ARGV[4]  how long a lapsed run and an ended marker are kept, in ms (start-run.lua, end-run.lua)
-- Returns {'active', node} or {'lapsed', node} (the request was published to `<prefix>node:<node>` as
-- JSON {type: "cancel", user_id, run_id}), {'ended'} or {'unknown'} (nothing was published).
redis.replicate_commands() -- Redis 6.x: allow TIME before PUBLISH (a no-op from Redis 7)

local runs, info, ended = KEYS[1], KEYS[2], KEYS[3]
local id, user, channels, retain = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local lease_end = redis.call('ZSCORE', runs, id)
local record = redis.call('HGET', info, id)
if lease_end and record and tonumber(lease_end) > now_ms - retain then
  local node = cjson.decode(record).node
  redis.call('PUBLISH', channels .. node, cjson.encode({ type = 'cancel', user_id = user, run_id = id }))
  if tonumber(lease_end) > now_ms then return { 'active', node } end
  return { 'lapsed', node }
end
local ended_at = redis.call('ZSCORE', ended, id)
if ended_at and tonumber(ended_at) > now_ms - retain then return { 'ended' } end
return { 'unknown' }
