-- Lists a user's runs whose lease has not lapsed (GET /v1/users/:user_id/runs, docs/protocol.md D).
--
-- KEYS[1]  `<prefix>{u:<id>}:runs`, KEYS[2] `<prefix>{u:<id>}:run-info` (as start-run.lua)
-- Returns {run id, JSON {agent, node, started_at, key?, thread?, queued?}, run id, JSON, ...}.
redis.replicate_commands() -- Redis 6.x: allow TIME (a no-op from Redis 7)

local runs, info = KEYS[1], KEYS[2]
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', runs, '(' .. now_ms, '+inf')) do
  local record = redis.call('HGET', info, id)
  if record then
    out[#out + 1] = id
    out[#out + 1] = record
  end
end
return out
