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
-- Optional run fence (docs/redis.md, "Runs"): the event is stored only if its run passes it, checked here,
-- in the same atomic step as the append, so nothing of a run can be stored after its terminal.
-- KEYS[4]  `<prefix>{u:<user_id>}:runs`, KEYS[5] `:run-info`, KEYS[6] `:runs-ended` (as end-run.lua)
-- ARGV[9]  run id
-- ARGV[10] mode: 'event' (the owner's event), 'end' (the owner's terminal), 'reap' (another node's
--          terminal for a run whose lease lapsed)
-- ARGV[11] the owner node ('event', 'end'); ARGV[12] how long the ended marker is kept, in ms
-- ARGV[13] ('event', 'end') the epoch of the run's first event, or ''
-- 'event' and 'end' pass while the run is registered to that node, and for a run not registered at all
-- when the user's log is no longer of the run's epoch (Redis lost the user's data, registry included:
-- the run may still end in the new epoch); 'reap' passes while the run is registered and its lease has
-- lapsed. 'end' and 'reap' end the run with the append (as end-run.lua).
-- An event of a run (docs/protocol.md F) is also folded into the run's snapshot here, in the same atomic
-- step, so a snapshot is never ahead of or behind the stream. Then KEYS[4..6] are always given (ARGV[10]
-- '' when the append is not fenced) and:
-- KEYS[7]  snapshot hash `<prefix>{u:<id>}:snap:<run_id>` {started_at, status, ended_at, first_seq, last_seq, epoch,
--          bytes, truncated, and the fields of ARGV[26..]}; KEYS[8] its text, KEYS[9] its reasoning
--          (strings, APPENDed), KEYS[10] its tool entries, KEYS[11] its approval entries (lists)
-- KEYS[12] sorted set of the user's active runs, KEYS[13] of all the user's runs, scored by last_seq
-- KEYS[14] the approval's hash `<prefix>{u:<id>}:approval:<approval_id>` (docs/protocol.md G), KEYS[15]
--          sorted set of the user's pending approvals, scored by when they expire (ms)
-- ARGV[14] the event's ts (started_at of a new snapshot, ended_at of a run's end)
-- ARGV[15] the run's new status, or '' (none changes once the run has ended)
-- ARGV[16] append target ('text', 'reasoning', 'tools', 'approvals' or ''), ARGV[17] the value appended
-- ARGV[18] snapshot max bytes, ARGV[19] snapshot ttl in ms, ARGV[20] runs listed per user
-- ARGV[21] approval op: 'open' (an approval_requested: register it pending), 'resolve' (an approval_resolved:
--          stored only while the approval is pending, atomically with resolving it) or ''
-- ARGV[22] approval id; ARGV[23] ('open') when it expires, ms, or ('resolve') the decision;
-- ARGV[24] ('open') the request's data as JSON, or ('resolve') the answer's idempotency key, or ''
-- ARGV[25] the number of field/value pairs that follow; ARGV[26..] field, value, field, value …
-- The patch (ARGV[15..]) is built by run-snapshot.ts, which holds the folding rules; this only applies it.
-- Returns {seq, epoch}, or the reason a fenced append was refused: 'not_registered' (ended, reaped or
-- unknown), 'not_owner', 'live' (reap of a run whose lease has not lapsed); a 'resolve' of an approval that
-- is not pending returns {'resolved', decision, key} (already resolved) or 'unknown'.
redis.replicate_commands() -- Redis 6.x: allow TIME before writes (a no-op from Redis 7)

local meta, log, sizes = KEYS[1], KEYS[2], KEYS[3]
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local run_id, mode = ARGV[9], ARGV[10]
local fenced = #KEYS >= 6 and mode ~= ''
if fenced then
  local record = redis.call('HGET', KEYS[5], run_id)
  local lease_end = redis.call('ZSCORE', KEYS[4], run_id)
  if not record or not lease_end then
    local lost = mode ~= 'reap' and ARGV[13] ~= '' and redis.call('HGET', meta, 'epoch') ~= ARGV[13]
    if not lost then return 'not_registered' end
  elseif mode == 'reap' then
    if tonumber(lease_end) > now_ms then return 'live' end
  elseif cjson.decode(record).node ~= ARGV[11] then
    return 'not_owner'
  end
end

local snapshot = #KEYS == 15
if snapshot and ARGV[21] == 'resolve' then
  local approval = KEYS[14]
  local state = redis.call('HMGET', approval, 'run_id', 'state', 'decision', 'key')
  if not state[1] or state[1] ~= run_id then return 'unknown' end
  if state[2] ~= 'pending' then return {'resolved', state[3], state[4] or ''} end
end

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

if snapshot then
  local snap, text, reasoning, tools, approvals = KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
  local live, all = KEYS[12], KEYS[13]
  local ts, status, target, value = ARGV[14], ARGV[15], ARGV[16], ARGV[17]
  local max_bytes, snap_ttl, per_user = tonumber(ARGV[18]), tonumber(ARGV[19]), tonumber(ARGV[20])
  local terminal = {succeeded = true, failed = true, cancelled = true, timed_out = true}
  local created = redis.call('HSETNX', snap, 'started_at', ts) == 1
  if created then
    redis.call('HSET', snap, 'status', 'running', 'bytes', 0, 'truncated', '0', 'first_seq', seq)
  elseif redis.call('HGET', snap, 'epoch') ~= epoch then
    -- The run's events now span epochs: its start can no longer be read from this epoch's history.
    redis.call('HDEL', snap, 'first_seq')
  end
  redis.call('HSET', snap, 'last_seq', seq, 'epoch', epoch)
  if status ~= '' and not terminal[redis.call('HGET', snap, 'status')] then
    redis.call('HSET', snap, 'status', status)
    if terminal[status] then redis.call('HSET', snap, 'ended_at', ts) end
  end
  -- The bounded parts: all of the patch or, once one does not fit, none of it and nothing more after.
  local pairs_count = tonumber(ARGV[25])
  if (target ~= '' or pairs_count > 0) and redis.call('HGET', snap, 'truncated') ~= '1' then
    local size = #value
    for i = 1, pairs_count do size = size + #ARGV[25 + 2 * i] end
    local used = tonumber(redis.call('HGET', snap, 'bytes')) or 0
    if used + size > max_bytes then
      redis.call('HSET', snap, 'truncated', '1')
    else
      redis.call('HSET', snap, 'bytes', used + size)
      for i = 1, pairs_count do redis.call('HSET', snap, ARGV[24 + 2 * i], ARGV[25 + 2 * i]) end
      if target == 'text' then redis.call('APPEND', text, value)
      elseif target == 'reasoning' then redis.call('APPEND', reasoning, value)
      elseif target == 'tools' then redis.call('RPUSH', tools, value)
      elseif target == 'approvals' then redis.call('RPUSH', approvals, value) end
    end
  end
  -- Listed by their latest event; the least recently active beyond the bound are no longer listed.
  redis.call('ZADD', all, seq, run_id)
  if redis.call('ZCARD', all) > per_user then redis.call('ZREMRANGEBYRANK', all, 0, -per_user - 1) end
  if terminal[redis.call('HGET', snap, 'status')] then
    redis.call('ZREM', live, run_id)
  else
    redis.call('ZADD', live, seq, run_id)
    if redis.call('ZCARD', live) > per_user then redis.call('ZREMRANGEBYRANK', live, 0, -per_user - 1) end
  end
  -- The run's approvals (docs/protocol.md G): registered pending with their question, resolved once.
  local approval, pending = KEYS[14], KEYS[15]
  if ARGV[21] == 'open' then
    redis.call('HSET', approval, 'run_id', run_id, 'state', 'pending', 'expires_at', ARGV[23], 'request', ARGV[24])
    redis.call('ZADD', pending, tonumber(ARGV[23]), ARGV[22])
  elseif ARGV[21] == 'resolve' then
    redis.call('HSET', approval, 'state', 'resolved', 'decision', ARGV[23], 'key', ARGV[24])
    redis.call('ZREM', pending, ARGV[22])
  end
  for _, key in ipairs({snap, text, reasoning, tools, approvals, live, all}) do
    redis.call('PEXPIRE', key, snap_ttl)
  end
  if ARGV[21] ~= '' then
    redis.call('PEXPIRE', approval, snap_ttl)
    redis.call('PEXPIRE', pending, snap_ttl)
  end
end

if fenced and mode ~= 'event' then
  local retain = tonumber(ARGV[12])
  redis.call('ZREM', KEYS[4], run_id)
  redis.call('HDEL', KEYS[5], run_id)
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now_ms - retain)
  redis.call('ZADD', KEYS[6], now_ms, run_id)
  redis.call('PEXPIRE', KEYS[6], retain)
end
return {seq, epoch}
