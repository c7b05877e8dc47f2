-- The deployment's run index (docs/redis.md, "Runs"): a sorted set of the users that have registered runs,
-- each scored by the Redis time the reaper should look at that user next (no later than the earliest
-- lease end of its runs). It is how a reaper finds lapsed runs without scanning every user. It is a
-- hint: the user's own keys (due-runs.lua, append.lua 'reap') decide; a user looked at too early is only
-- given a later time. Its one key has no hash tag, so on a Redis Cluster it lives in one slot, apart from
-- the users' keys, and is written by its own calls, never in the same script as a user's keys.
--
-- KEYS[1]  `<prefix>runs-due`
-- ARGV[1]  operation, ARGV[2] its number, ARGV[3] how long the index lives unwritten (ms), ARGV[4..] users:
--   'lower'  ARGV[2] lease ms: each user is due at now + lease at the latest (added when absent, never
--            made later); a run's start and every renewal round call it.
--   'set'    ARGV[2] Redis time in ms: the user is due then (the reaper's next look, maybe later).
--   'remove' the user has no registered run.
--   'due'    ARGV[2] at most this many: the users due now, earliest first.
-- Returns the due user ids for 'due', else the number of users changed.
redis.replicate_commands() -- Redis 6.x: allow TIME before writes (a no-op from Redis 7)

local index, op = KEYS[1], ARGV[1]
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if op == 'due' then
  return redis.call('ZRANGEBYSCORE', index, '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[2]))
end
if op == 'remove' then return redis.call('ZREM', index, ARGV[4]) end
local changed = 0
if op == 'set' then
  redis.call('ZADD', index, tonumber(ARGV[2]), ARGV[4])
  changed = 1
else
  local due = now_ms + tonumber(ARGV[2])
  for i = 4, #ARGV do
    local held = redis.call('ZSCORE', index, ARGV[i])
    if not held or tonumber(held) > due then
      redis.call('ZADD', index, due, ARGV[i])
      changed = changed + 1
    end
  end
end
if redis.call('PTTL', index) < tonumber(ARGV[3]) then redis.call('PEXPIRE', index, ARGV[3]) end
return changed
