-- Reads run snapshots (docs/protocol.md F) for GET /v1/runs and for a catch-up, in one atomic step with the
-- user's head, so each snapshot returned holds exactly its run's events with seq <= that head's seq.
--
-- KEYS[1]  meta hash {epoch, seq}, KEYS[2] history stream (deleted with a new epoch, as head.lua)
-- KEYS[3]  sorted set of the user's active runs, KEYS[4] of all the user's runs (scored by last_seq)
-- KEYS[5 + 5(i-1) .. 4 + 5i]  for the i-th run id of ARGV[7..]: its snapshot hash, text, reasoning, tools,
--          approvals
-- ARGV[1]  a fresh epoch, used only when the user's log is gone; ARGV[2] meta ttl in ms
-- ARGV[3]  'catch_up' (the active runs and, with ARGV[4], the runs with an event after it) or 'read'
--          (exactly the runs named)
-- ARGV[4]  ('catch_up') since, or ''; ARGV[5] the epoch of that since, or ''
-- ARGV[6]  how many run ids follow; ARGV[7..] the run ids whose keys are given
-- Keys must be named up front (Redis Cluster), and which runs a catch-up wants is only known here. So a
-- catch-up is called first with no run ids; when it wants runs other than those named it returns
-- {'retry', run ids…} and the caller calls again with their keys (a run that started in between makes
-- another round).
-- Returns {epoch, seq, then for each run returned: run id, hash fields as a flat list, text, reasoning,
-- tool entries and approval entries as lists}; for 'read' a run without a snapshot is left out.
local meta = KEYS[1]
local epoch = redis.call('HGET', meta, 'epoch')
local seq = 0
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', meta, 'epoch', epoch, 'seq', 0)
  redis.call('PEXPIRE', meta, ARGV[2])
else
  seq = tonumber(redis.call('HGET', meta, 'seq'))
end

local named = {}
local count = tonumber(ARGV[6])
for i = 1, count do named[i] = ARGV[6 + i] end

if ARGV[3] == 'catch_up' then
  local wanted = {}
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do wanted[id] = true end
  if ARGV[4] ~= '' and ARGV[5] == epoch then
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. ARGV[4], '+inf')) do wanted[id] = true end
  end
  local given = {}
  for _, id in ipairs(named) do given[id] = true end
  local same = true
  for id in pairs(wanted) do if not given[id] then same = false end end
  for id in pairs(given) do if not wanted[id] then same = false end end
  if not same then
    local out = {'retry'}
    for id in pairs(wanted) do out[#out + 1] = id end
    return out
  end
end

local out = {epoch, seq}
for i, id in ipairs(named) do
  local base = 4 + 5 * (i - 1)
  local fields = redis.call('HGETALL', KEYS[base + 1])
  -- A catch-up sends a run's snapshot only while it belongs to the head's epoch (a resumed since is of it).
  local keep = #fields > 0
  if keep and ARGV[3] == 'catch_up' and redis.call('HGET', KEYS[base + 1], 'epoch') ~= epoch then
    keep = redis.call('ZSCORE', KEYS[3], id) ~= false
  end
  if keep then
    out[#out + 1] = id
    out[#out + 1] = fields
    out[#out + 1] = redis.call('GET', KEYS[base + 2]) or ''
    out[#out + 1] = redis.call('GET', KEYS[base + 3]) or ''
    out[#out + 1] = redis.call('LRANGE', KEYS[base + 4], 0, -1)
    out[#out + 1] = redis.call('LRANGE', KEYS[base + 5], 0, -1)
  end
end
return out
