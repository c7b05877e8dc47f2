-- The user's epoch and latest seq, creating the epoch on first touch (docs/protocol.md §2 welcome, §4).
-- The welcome frame announces this epoch, so it must be the one the user's next event gets.
--
-- KEYS[1]  meta hash {epoch, seq}
-- KEYS[2]  history stream (deleted with a new epoch: it belongs to an older one)
-- ARGV[1]  a fresh epoch, used only when the user's log is gone
-- ARGV[2]  meta ttl in ms
-- Returns {epoch, seq}.
local meta = KEYS[1]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', meta, 'epoch', epoch, 'seq', 0)
  redis.call('PEXPIRE', meta, ARGV[2])
  return {epoch, 0}
end
return {epoch, tonumber(redis.call('HGET', meta, 'seq'))}
