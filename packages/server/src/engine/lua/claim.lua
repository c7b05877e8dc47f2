-- Claims an idempotency key (docs/protocol.md §6): the first claim stores its value for ttl ms; later claims
-- get that value back. One script so that "read, then set if absent" cannot interleave with another node.
--
-- KEYS[1]  `<prefix>idem:<key>`
-- ARGV[1]  value, ARGV[2] ttl in ms
-- Returns {1} when claimed, {0, value} when already claimed.
local held = redis.call('GET', KEYS[1])
if held then return {0, held} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1}
