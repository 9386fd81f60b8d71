--[[
  take-token-2: takes one call's token from a shared bucket, as LocalCallBudget.reserve does
  in memory. The clock is Redis's own (TIME), so instances whose clocks disagree still share
  one rate. A missing bucket is a full one.

  KEYS[1] the bucket, a hash {tokens, at}: tokens left (below 0 while takes wait for tokens
          reserved ahead of the refill) as of `at`, Redis time in ms
  KEYS[2] the pause, a key that exists (with a PX) while the API asked everyone to stay away
  ARGV[1] limit: calls per window, and the largest burst
  ARGV[2] window in ms
  ARGV[3] the longest a caller may wait, in ms

  Returns {taken, waitMs, paused}: taken 1 when a token was taken, to be used after waitMs;
  0 when the wait would be longer than ARGV[3] (nothing is taken). paused is 1 when the wait
  is the pause's rather than the bucket's.
]]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local maxWait = tonumber(ARGV[3])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or limit
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(limit, tokens + (now - at) * limit / window)
  at = now
end

local pausedMs = redis.call('PTTL', KEYS[2])
if pausedMs < 0 then pausedMs = 0 end
local bucketMs = 0
if tokens < 1 then bucketMs = math.ceil((1 - tokens) * window / limit) end
local wait = math.max(pausedMs, bucketMs)
local paused = 0
if pausedMs > 0 and pausedMs >= bucketMs then paused = 1 end
if wait > maxWait then return {0, wait, paused} end

tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', at)
-- Gone once it would be full again: a missing bucket reads as a full one.
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((limit - tokens) * window / limit)))
return {1, wait, paused}
