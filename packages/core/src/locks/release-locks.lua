-- release-locks: deletes an owner's lock keys, and only its own (compare and delete).
--
-- KEYS: the lock keys (`<prefix>lock:<key>`), any number.
-- ARGV[1]: the owner.
-- Returns how many keys were deleted: a key taken over by a new holder stays with it.
local deleted = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    deleted = deleted + redis.call('DEL', KEYS[i])
  end
end
return deleted
