-- GET /oauth2/userinfo, cycling through the access tokens in $BENCH_TOKENS (one a line), so
-- requests name several grants. The requests are formatted once (in init, when wrk knows the
-- Host header), not per request. $BENCH_PATH_PREFIX (e.g. /t/t00000) aims at a tenant.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
local requests = {}
local prefix = os.getenv("BENCH_PATH_PREFIX") or ""
init = function()
  for token in io.lines(os.getenv("BENCH_TOKENS")) do
    requests[#requests + 1] = wrk.format("GET", prefix .. "/oauth2/userinfo", { Authorization = "Bearer " .. token })
  end
end
local i = 0
request = function()
  i = i % #requests + 1
  return requests[i]
end
done = report
