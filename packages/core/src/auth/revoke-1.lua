-- Revokes one id in the shared denylist, keeping the later expiry, and tells every process.
--
-- KEYS[1]  the denylist: a sorted set whose members are "<kind>:<id>" ("session:…", "token:…"),
--          each scored with the epoch ms at which it expires
-- ARGV[1]  now, epoch ms: members expired by then are dropped
-- ARGV[2]  the member
-- ARGV[3]  its expiry, epoch ms
-- ARGV[4]  the channel every process listens on
-- ARGV[5]  the message: {"kind","id","until"} as JSON
--
-- Returns how many subscriber connections got the message.
local known = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not known or tonumber(known) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('PUBLISH', ARGV[4], ARGV[5])
