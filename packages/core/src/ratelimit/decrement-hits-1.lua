-- decrement-hits: gives one hit back to a rate limit key (RedisRateLimitStore), in place of
-- rate-limit-redis's bare DECR, which can leave a key at -1 with no TTL once its window has
-- ended, a key that then never expires.
--
-- KEYS[1]: the key's hit count, as rate-limit-redis's increment script sets it (with PX).
-- ARGV: none.
-- Returns the count after: 0 when the key was missing or already at 0, having changed nothing.
local hits = tonumber(redis.call('GET', KEYS[1]))
if hits == nil or hits <= 0 then
  return 0
end
-- DECR keeps the key's TTL, so the window still ends when it would have.
return redis.call('DECR', KEYS[1])
