-- renew-locks: extends an owner's lock keys by the TTL, only if it still holds every one.
--
-- KEYS: the lock keys (`<prefix>lock:<key>`), any number.
-- ARGV[1]: the owner.
-- ARGV[2]: the TTL in milliseconds.
-- Returns 1 when every key was still the owner's and now lives the TTL again; 0 when one of
-- them expired or was taken over, having extended nothing (the holder has lost the lock).
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return 0 end
end
for i = 1, #KEYS do
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return 1
