-- Registers one agent run of a user and reserves its place under --max-runs-per-user, across every node,
-- in one atomic step (docs/agents.md, "Runs across nodes"; docs/redis.md, "Runs"): two nodes starting a
-- run at once can never both take the user's last place.
--
-- KEYS[1]  `<prefix>{u:<id>}:runs`: sorted set of the user's runs, scored by the Redis time their lease ends
-- KEYS[2]  `<prefix>{u:<id>}:run-info`: hash run id -> JSON {agent, node, started_at, key?} of those runs
-- ARGV[1]  run id, ARGV[2] agent, ARGV[3] owner node, ARGV[4] limit, ARGV[5] lease in ms,
-- ARGV[6]  how long a run whose lease lapsed is kept (for the reaper of issue 15) before it is forgotten
-- ARGV[7]  idempotency key of the message that starts the run, or ''
-- Returns 1 when the run is registered (or was already, and is renewed), 0 when the user holds `limit`
-- runs whose lease has not lapsed, or at the limit the id of the active run started by the same key.
redis.replicate_commands() -- Redis 6.x: allow TIME before writes (a no-op from Redis 7)

local runs, info = KEYS[1], KEYS[2]
local id, limit, lease, retain = ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- A lapsed run stops counting at once, but stays listed (score <= now) for `retain` ms, then is forgotten.
for _, stale in ipairs(redis.call('ZRANGEBYSCORE', runs, '-inf', now_ms - retain)) do
  redis.call('ZREM', runs, stale)
  redis.call('HDEL', info, stale)
end

if not redis.call('ZSCORE', runs, id) then
  if redis.call('ZCOUNT', runs, '(' .. now_ms, '+inf') >= limit then
    -- A retried message whose run is active is a duplicate, not over the limit (docs/agents.md).
    if ARGV[7] ~= '' then
      for _, active in ipairs(redis.call('ZRANGEBYSCORE', runs, '(' .. now_ms, '+inf')) do
        local record = redis.call('HGET', info, active)
        if record and cjson.decode(record).key == ARGV[7] then return active end
      end
    end
    return 0
  end
  local record = { agent = ARGV[2], node = ARGV[3], started_at = now_ms }
  if ARGV[7] ~= '' then record.key = ARGV[7] end
  redis.call('HSET', info, id, cjson.encode(record))
end
redis.call('ZADD', runs, now_ms + lease, id)
-- Only ever lengthen the keys' lives: another node may run with a longer --run-lease-s.
for _, key in ipairs({ runs, info }) do
  if redis.call('PTTL', key) < lease + retain then redis.call('PEXPIRE', key, lease + retain) end
end
return 1
