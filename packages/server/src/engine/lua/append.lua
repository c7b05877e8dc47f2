-- Stores one event of one user and publishes its wire frame, in one atomic step (docs/protocol.md §3, §4):
-- seq is taken, the event stored and trimmed, and the frame published with nothing in between, so every
-- node sees each user's events in seq order, gap-free.
--
-- KEYS[1]  meta hash {epoch, seq, bytes}  `<prefix>{u:<user_id>}:meta`
-- KEYS[2]  history stream                 `<prefix>{u:<user_id>}:log`   (same hash tag: one cluster slot)
-- KEYS[3]  list of entry sizes in bytes   `<prefix>{u:<user_id>}:sizes`, one per stream entry, same order
-- ARGV[1]  a fresh epoch, used only when the user's log is gone
-- ARGV[2]  history size (trim by count)
-- ARGV[3]  history ttl in ms (trim by age, MINID; the stream expires when idle that long)
-- ARGV[4]  meta ttl in ms (how long an idle user's epoch and seq survive)
-- ARGV[5]  pub/sub channel of the user
-- ARGV[6]  frame head `{"type":…`            (JSON built by the caller, as encodeEvent does)
-- ARGV[7]  frame tail `,"ts":…,"data":…}`
-- ARGV[8]  history max bytes (trim by the bytes of the frames, never the newest entry)
-- Returns {seq, epoch}.
redis.replicate_commands() -- Redis 6.x: allow TIME before writes (a no-op from Redis 7)

local meta, log, sizes = KEYS[1], KEYS[2], KEYS[3]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  -- §4: the user's data is gone (first event, Redis restarted empty, flushed, or idle past the meta ttl).
  -- A new epoch begins at seq 1; leftovers of an older epoch must never be served as part of it.
  epoch = ARGV[1]
  redis.call('DEL', log, sizes)
  redis.call('HSET', meta, 'epoch', epoch, 'seq', 0)
end
local seq = redis.call('HINCRBY', meta, 'seq', 1)

-- Key order type, seq, epoch, ts, run_id, data: byte for byte what encodeEvent produces.
local frame = ARGV[6] .. ',"seq":' .. seq .. ',"epoch":"' .. epoch .. '"' .. ARGV[7]

-- What the stream holds in bytes: meta `bytes`, with one size per entry in `sizes`. When the two disagree
-- with the stream (the log expired while meta lived on, or an older version wrote it without sizes),
-- they are rebuilt from it, reading the frames in pages so a large stream never sits in memory at once.
local held = redis.call('XLEN', log)
local total = 0
if held == 0 then
  redis.call('DEL', sizes)
elseif redis.call('LLEN', sizes) == held then
  total = tonumber(redis.call('HGET', meta, 'bytes')) or 0
else
  redis.call('DEL', sizes)
  local from = '-'
  repeat
    local page = redis.call('XRANGE', log, from, '+', 'COUNT', 100)
    for _, entry in ipairs(page) do
      local stored = entry[2][4]
      local size = stored and #stored or 0
      redis.call('RPUSH', sizes, size)
      total = total + size
    end
    if #page > 0 then from = '(' .. page[#page][1] end
  until #page < 100
end

local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl_ms = tonumber(ARGV[3])
local max_len = tonumber(ARGV[2])
local max_bytes = tonumber(ARGV[8])
-- The entry id carries Redis time, which is what MINID trims by: an event exactly ttl old is kept.
redis.call('XADD', log, '*', 's', seq, 'f', frame)
redis.call('RPUSH', sizes, #frame)
held = held + 1
total = total + #frame

-- Trim oldest first, by age, then by count, then by bytes while over (keeping the entry just added).
local function forget(count)
  for _, size in ipairs(redis.call('LPOP', sizes, count)) do total = total - tonumber(size) end
  held = held - count
end
local aged = redis.call('XTRIM', log, 'MINID', now_ms - ttl_ms)
if aged > 0 then forget(aged) end
local before = held
if held > max_len then forget(held - max_len) end
while total > max_bytes and held > 1 do forget(1) end
if held < before then redis.call('XTRIM', log, 'MAXLEN', held) end

redis.call('HSET', meta, 'bytes', total)
redis.call('PEXPIRE', log, ttl_ms + 1000)
redis.call('PEXPIRE', sizes, ttl_ms + 1000)
redis.call('PEXPIRE', meta, ARGV[4])
redis.call('PUBLISH', ARGV[5], frame)
return {seq, epoch}
