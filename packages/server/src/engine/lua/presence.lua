-- A user's presence (docs/protocol.md D, "Presence"): one JSON record per connection, written by the node
-- that holds it, read by any node. A record counts only while its connection's slot lease runs (the
-- `conns` sorted set of acquire-slot.lua), so the records of a crashed node vanish with its leases; a
-- read forgets those it finds.
--
-- KEYS[1]  `<prefix>{u:<id>}:conns` (acquire-slot.lua), KEYS[2] `<prefix>{u:<id>}:presence` (hash:
--          connection id -> JSON {server_id, transport, connected_at, delivered_seq, seen_seq})
-- ARGV[1]  mode: 'put' (ARGV[2] connection id, ARGV[3] the record, ARGV[4] the key's ttl in ms),
--          'remove' (ARGV[2] connection id) or 'read'
-- Returns, for 'read', a flat list {connection id, record, …} of the live connections; else 0.
redis.replicate_commands() -- Redis 6.x: allow TIME before writes (a no-op from Redis 7)

local conns, presence = KEYS[1], KEYS[2]
local mode = ARGV[1]

if mode == 'put' then
  redis.call('HSET', presence, ARGV[2], ARGV[3])
  redis.call('PEXPIRE', presence, ARGV[4])
  return 0
end
if mode == 'remove' then
  redis.call('HDEL', presence, ARGV[2])
  return 0
end

local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local records = redis.call('HGETALL', presence)
local live = {}
for i = 1, #records, 2 do
  local lease_end = redis.call('ZSCORE', conns, records[i])
  if lease_end and tonumber(lease_end) > now_ms then
    live[#live + 1] = records[i]
    live[#live + 1] = records[i + 1]
  else
    redis.call('HDEL', presence, records[i])
  end
end
return live
