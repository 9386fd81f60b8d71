-- take-locks: takes every lock key for one owner, or none of them (RedisLockManager).
--
-- KEYS: the lock keys (`<prefix>lock:<key>`), any number, in the canonical order.
-- ARGV[1]: the owner (one acquisition's random name).
-- ARGV[2]: the TTL in milliseconds.
-- Returns 1 when every key was free and is now the owner's for the TTL; 0 when one of them is
-- held (by anyone, this owner included), having set nothing.
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
return 1
