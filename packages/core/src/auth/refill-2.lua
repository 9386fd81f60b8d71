-- One chunk of a refill of the shared denylist from the database, after Redis lost it (a
-- restart, an eviction). A long list takes several chunks; the process that claimed the refill
-- with its first chunk finishes it, and the others leave it alone.
--
-- KEYS[1]  the denylist (see revoke-1.lua); its member "~filled" (score +inf) says a refill
--          completed since Redis last lost the key
-- KEYS[2]  the claim of the refill under way: its token, expiring after ARGV[5] ms so that a
--          refill whose process died is taken up again
-- ARGV[1]  now, epoch ms: members expired by then are dropped
-- ARGV[2]  this refill's token
-- ARGV[3]  "1" for the first chunk
-- ARGV[4]  "1" for the last chunk (a single chunk is both)
-- ARGV[5]  how long the claim lasts, ms
-- ARGV[6…] pairs: member, expiry (epoch ms)
--
-- Returns 1 when the chunk was added; 0 when the refill is not this one's to do: done already,
-- claimed by another process, or the claim was lost (Redis restarted again).
if ARGV[3] == '1' then
  if redis.call('ZSCORE', KEYS[1], '~filled') then return 0 end
  local claim = redis.call('GET', KEYS[2])
  if claim and claim ~= ARGV[2] then return 0 end
elseif redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return 0
end
for i = 6, #ARGV, 2 do
  local known = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if not known or tonumber(known) < tonumber(ARGV[i + 1]) then
    redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], '+inf', '~filled')
  redis.call('DEL', KEYS[2])
else
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[5])
end
return 1
