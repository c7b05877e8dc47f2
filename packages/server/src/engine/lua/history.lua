-- The events of one user after `since`, or why they cannot be served (docs/protocol.md §4), read atomically
-- with the head so the answer is consistent.
--
-- KEYS[1]  meta hash {epoch, seq}
-- KEYS[2]  history stream; entries {s = seq, f = wire frame}, contiguous in seq (only trimmed in front)
-- ARGV[1]  a fresh epoch, used only when the user's log is gone
-- ARGV[2]  meta ttl in ms
-- ARGV[3]  since
-- ARGV[4]  the client's epoch, '' when none was given
-- ARGV[5]  limit
-- ARGV[6]  history ttl in ms
-- Returns {epoch, seq, verdict, frame...}; verdict is 'ok' (complete), 'partial' (cut by limit),
-- 'epoch_changed', 'ahead' or 'expired'. Frames are oldest first.
redis.replicate_commands() -- Redis 6.x: allow TIME before a possible write (a no-op from Redis 7)

local meta, log = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'epoch')
local seq = 0
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', log)
  redis.call('HSET', meta, 'epoch', epoch, 'seq', 0)
  redis.call('PEXPIRE', meta, ARGV[2])
else
  seq = tonumber(redis.call('HGET', meta, 'seq'))
end

local since = tonumber(ARGV[3])
local client_epoch = ARGV[4]
-- A different epoch, or since > 0 of an epoch not named: seqs of different epochs are unrelated.
if (client_epoch == '' and since > 0) or (client_epoch ~= '' and client_epoch ~= epoch) then
  return {epoch, seq, 'epoch_changed'}
end
if since > seq then return {epoch, seq, 'ahead'} end
if since == seq then return {epoch, seq, 'ok'} end

local wanted = seq - since
local entries = redis.call('XREVRANGE', log, '+', '-', 'COUNT', wanted)
if #entries < wanted then return {epoch, seq, 'expired'} end
local oldest = entries[#entries]
if tonumber(oldest[2][2]) ~= since + 1 then return {epoch, seq, 'expired'} end
-- Trimming by age only happens on append; an idle user's old entries are still there, so check age.
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local oldest_ms = tonumber(string.match(oldest[1], '^(%d+)'))
if oldest_ms < now_ms - tonumber(ARGV[6]) then return {epoch, seq, 'expired'} end

local limit = tonumber(ARGV[5])
local reply = {epoch, seq, wanted <= limit and 'ok' or 'partial'}
local last = math.max(1, #entries - limit + 1)
for i = #entries, last, -1 do
  reply[#reply + 1] = entries[i][2][4]
end
return reply
