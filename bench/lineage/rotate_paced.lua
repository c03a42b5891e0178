-- wrk script for bench_lineage.py: rotate the request path over the lines of $WRK_PATHS_FILE
-- (one path with query string per line) and pace each connection with a random think time of
-- 0..2*$WRK_MEAN_DELAY_MS ms (as bench/gateway/paced.lua). Prints exact percentiles at the end
-- (wrk --latency only gives 50/75/90/99) as "PCT <p> <microseconds>" lines.
local mean = tonumber(os.getenv("WRK_MEAN_DELAY_MS") or "25")
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS_FILE")) do
  if #line > 0 then paths[#paths + 1] = line end
end
local i = 0
math.randomseed(os.time())

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end

function delay()
  return math.random(0, math.floor(2 * mean))
end

function done(summary, latency, requests)
  for _, p in ipairs({50, 90, 95, 99}) do
    io.write(string.format("PCT %d %d\n", p, latency:percentile(p)))
  end
  io.write(string.format("COUNT %d\n", summary.requests))
end
