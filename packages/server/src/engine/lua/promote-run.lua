-- Makes a queued run its thread's active run when its turn has come (docs/protocol.md E, "A message while
-- a run is busy"; docs/redis.md, "Runs"): no other active run in its thread (lease lapsed or not) and no
-- queued run ahead of it whose lease has not lapsed. Atomic with the registry, so two queued runs of a
-- thread never both start, whichever nodes own them.
--
-- KEYS[1]  `<prefix>{u:<id>}:runs`, KEYS[2] `<prefix>{u:<id>}:run-info` (as start-run.lua)
-- ARGV[1]  run id, ARGV[2] its owner node
-- Returns 'started' (also when it was active already), 'waiting', or 'gone' (not a registered run of that
-- node whose lease runs: ended, reaped, lapsed).
redis.replicate_commands() -- Redis 6.x: allow TIME before writes (a no-op from Redis 7)

local runs, info = KEYS[1], KEYS[2]
local id = ARGV[1]
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lease_end = redis.call('ZSCORE', runs, id)
local raw = redis.call('HGET', info, id)
if not lease_end or not raw or tonumber(lease_end) <= now_ms then return 'gone' end
local record = cjson.decode(raw)
if record.node ~= ARGV[2] then return 'gone' end
if record.queued == nil or record.thread == nil then return 'started' end

local members = redis.call('ZRANGE', runs, 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  if members[i] ~= id then
    local other_raw = redis.call('HGET', info, members[i])
    if other_raw then
      local other = cjson.decode(other_raw)
      if other.thread == record.thread then
        if other.queued == nil then return 'waiting' end
        if tonumber(members[i + 1]) > now_ms and other.queued < record.queued then return 'waiting' end
      end
    end
  end
end
record.queued = nil
redis.call('HSET', info, id, cjson.encode(record))
return 'started'
