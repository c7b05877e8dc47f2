-- Stores one event of one user and publishes its wire frame, in one atomic step (PROTOCOL.md §3, §4):
-- seq is taken, the event stored and the frame published with nothing in between, so every node sees
-- each user's events in seq order, gap-free.
--
-- KEYS[1]  meta hash {epoch, seq}  `<prefix>{u:<user_id>}:meta`
-- KEYS[2]  history stream          `<prefix>{u:<user_id>}:log`   (same hash tag: one cluster slot)
-- ARGV[1]  a fresh epoch, used only when the user's log is gone
-- ARGV[2]  history size (trim by count, MAXLEN)
-- ARGV[3]  history ttl in ms (trim by age, MINID; the stream expires when idle that long)
-- ARGV[4]  meta ttl in ms (how long an idle user's epoch and seq survive)
-- ARGV[5]  pub/sub channel of the user
-- ARGV[6]  frame head `{"type":…`            (JSON built by the caller, as encodeEvent does)
-- ARGV[7]  frame tail `,"ts":…,"data":…}`
-- Returns {seq, epoch}.
redis.replicate_commands() -- Redis 6.x: allow TIME before writes (a no-op from Redis 7)

local meta, log = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  -- §4: the user's data is gone (first event, Redis restarted empty, flushed, or idle past the meta ttl).
  -- A new epoch begins at seq 1; leftovers of an older epoch must never be served as part of it.
  epoch = ARGV[1]
  redis.call('DEL', log)
  redis.call('HSET', meta, 'epoch', epoch, 'seq', 0)
end
local seq = redis.call('HINCRBY', meta, 'seq', 1)

-- Key order type, seq, epoch, ts, run_id, data: byte for byte what encodeEvent produces.
local frame = ARGV[6] .. ',"seq":' .. seq .. ',"epoch":"' .. epoch .. '"' .. ARGV[7]

local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl_ms = tonumber(ARGV[3])
-- The entry id carries Redis time, which is what MINID trims by: an event exactly ttl old is kept.
redis.call('XADD', log, 'MAXLEN', ARGV[2], '*', 's', seq, 'f', frame)
redis.call('XTRIM', log, 'MINID', now_ms - ttl_ms)
redis.call('PEXPIRE', log, ttl_ms + 1000)
redis.call('PEXPIRE', meta, ARGV[4])
redis.call('PUBLISH', ARGV[5], frame)
return {seq, epoch}
