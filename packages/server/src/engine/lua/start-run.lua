-- Registers one agent run of a user and reserves its place under --max-runs-per-user, across every node,
-- in one atomic step (docs/agents.md, "Runs across nodes"; docs/redis.md, "Runs"): two nodes starting a
-- run at once can never both take the user's last place.
--
-- KEYS[1]  `<prefix>{u:<id>}:runs`: sorted set of the user's runs, scored by the Redis time their lease ends
-- KEYS[2]  `<prefix>{u:<id>}:run-info`: hash run id -> JSON {agent, node, started_at, key?} of those runs
-- ARGV[1]  run id, ARGV[2] agent, ARGV[3] owner node, ARGV[4] limit, ARGV[5] lease in ms,
-- ARGV[6]  how long a run whose lease lapsed is kept (for the reaper of issue 15) before it is forgotten
-- ARGV[7]  idempotency key of the message that starts the run, or ''
-- The thread's turn (docs/protocol.md E, "A message while a run is busy"), decided in the same step: a
-- thread has at most one active run (a registered run of the thread without `queued`, its lease lapsed
-- or not: a dead node's run holds the thread until a reaper ends it); queued runs wait, lowest `queued`
-- first, and those whose lease lapsed are skipped.
-- ARGV[8]  thread id, or '' (no thread: the run starts beside any other)
-- ARGV[9]  busy policy: 'reject', 'enqueue' or 'interrupt'; ARGV[10] max queued runs per thread
-- ARGV[11] user id; ARGV[12] the control channels' prefix (`<prefix>node:`), for an interrupt's cancel
-- Returns 1 when the run is registered (or was already, and is renewed), 0 when the user holds `limit`
-- runs whose lease has not lapsed, the id of the user's registered run started by the same key (at the
-- limit, or when the thread is busy), {'queued', run id it waits behind}, {'busy', run id} (reject), or
-- {'queue_full'}. An interrupt publishes {type: "cancel", user_id, run_id, reason: "interrupted"} to the
-- active run's owner, as request-cancel.lua does.
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

-- A retried message whose run is registered is a duplicate, not over the limit nor busy (docs/agents.md).
local function same_key()
  if ARGV[7] == '' then return nil end
  for _, active in ipairs(redis.call('ZRANGEBYSCORE', runs, '(' .. now_ms, '+inf')) do
    local record = redis.call('HGET', info, active)
    if record and cjson.decode(record).key == ARGV[7] then return active end
  end
  return nil
end

local queued_behind = nil
if not redis.call('ZSCORE', runs, id) then
  if redis.call('ZCOUNT', runs, '(' .. now_ms, '+inf') >= limit then
    return same_key() or 0
  end
  local record = { agent = ARGV[2], node = ARGV[3], started_at = now_ms }
  if ARGV[7] ~= '' then record.key = ARGV[7] end
  local thread, policy = ARGV[8] or '', ARGV[9]
  if thread ~= '' then
    record.thread = thread
    local active_id, active_node, head_id, head_order, waiting = nil, nil, nil, nil, 0
    local members = redis.call('ZRANGE', runs, 0, -1, 'WITHSCORES')
    for i = 1, #members, 2 do
      local raw = redis.call('HGET', info, members[i])
      if raw then
        local other = cjson.decode(raw)
        if other.thread == thread then
          if other.queued == nil then
            active_id, active_node = members[i], other.node
          elseif tonumber(members[i + 1]) > now_ms then
            waiting = waiting + 1
            if head_order == nil or other.queued < head_order then head_id, head_order = members[i], other.queued end
          end
        end
      end
    end
    local busy_with = active_id or head_id
    if busy_with then
      local same = same_key()
      if same then return same end
      if policy == 'reject' then return { 'busy', busy_with } end
      if waiting >= tonumber(ARGV[10]) then return { 'queue_full' } end
      -- Places in the queue: enqueued runs count up, interrupting ones down (they go first).
      local order = redis.call('HINCRBY', info, '#queue', 1)
      if policy == 'interrupt' then
        order = -order
        if active_id then
          redis.call('PUBLISH', ARGV[12] .. active_node,
            cjson.encode({ type = 'cancel', user_id = ARGV[11], run_id = active_id, reason = 'interrupted' }))
        end
      end
      record.queued = order
      queued_behind = busy_with
    end
  end
  redis.call('HSET', info, id, cjson.encode(record))
end
redis.call('ZADD', runs, now_ms + lease, id)
-- Only ever lengthen the keys' lives: another node may run with a longer --run-lease-s.
for _, key in ipairs({ runs, info }) do
  if redis.call('PTTL', key) < lease + retain then redis.call('PEXPIRE', key, lease + retain) end
end
if queued_behind then return { 'queued', queued_behind } end
return 1
