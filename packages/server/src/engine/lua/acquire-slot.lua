-- Takes or renews one of a user's connection slots (docs/protocol.md §5: 10 per user across all nodes).
-- The sorted set scores each connection id by the Redis time its lease ends; nodes renew the leases of
-- their live connections, so the slots of a crashed node free themselves when their leases run out.
--
-- KEYS[1]  `<prefix>{u:<user_id>}:conns`
-- ARGV[1]  connection id, ARGV[2] limit, ARGV[3] lease in ms
-- Returns 1 when the connection holds a slot, 0 when the user already holds `limit` others.
redis.replicate_commands() -- Redis 6.x: allow TIME before writes (a no-op from Redis 7)

local slots = KEYS[1]
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', slots, '-inf', now_ms)
if redis.call('ZSCORE', slots, ARGV[1]) or redis.call('ZCARD', slots) < tonumber(ARGV[2]) then
  redis.call('ZADD', slots, now_ms + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', slots, ARGV[3])
  return 1
end
return 0
