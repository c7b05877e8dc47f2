-- Disconnects a user on every node (docs/protocol.md D, "Disconnecting a user"): stores the user's token
-- revocation first (when one is asked), then publishes the request on the channel every node listens to,
-- in one step, so a connection that joins meanwhile either reads the revocation or is told to close. A
-- revocation never moves back: the larger of the stored and the asked `revoke_before` is kept, and its
-- time to live starts again.
--
-- KEYS[1]  `<prefix>{u:<id>}:revoked` (unix seconds)
-- ARGV[1]  revoke_before in unix seconds, or '' for none; ARGV[2] its time to live in ms
-- ARGV[3]  the disconnect channel (`<prefix>users:disconnect`); ARGV[4] the message to publish, JSON
--          {type: "disconnect", user_id, reason?, revoke_before?}
-- Returns the revocation now stored (a number), or 0 when none is stored.
local revoked = KEYS[1]
local before, ttl, channel, message = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]

local stored = tonumber(redis.call('GET', revoked) or '0')
if before ~= '' then
  local asked = tonumber(before)
  if asked > stored then stored = asked end
  redis.call('SET', revoked, tostring(stored), 'PX', ttl)
end
redis.call('PUBLISH', channel, message)
return stored
