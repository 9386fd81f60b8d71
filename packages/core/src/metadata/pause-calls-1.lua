--[[
  pause-calls-1: asks everyone sharing a call budget to stay away for a while (a 429's
  Retry-After). A longer pause already set is kept.

  KEYS[1] the pause key
  ARGV[1] the pause in ms

  Returns how long the pause now lasts, in ms.
]]
local ms = tonumber(ARGV[1])
local current = redis.call('PTTL', KEYS[1])
if current >= ms then return current end
redis.call('SET', KEYS[1], '1', 'PX', ms)
return ms
