-- Pace wrk: each connection waits a random 0..2*mean ms before its next request, so
-- `connections / (mean + latency)` requests per second arrive without synchronised bursts.
local mean = tonumber(os.getenv("WRK_MEAN_DELAY_MS") or "25")
math.randomseed(os.time())

function delay()
  return math.random(0, math.floor(2 * mean))
end
