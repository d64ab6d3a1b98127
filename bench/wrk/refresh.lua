-- POST /oauth2/token with grant_type=refresh_token. Refresh tokens rotate on every use and a
-- reused one revokes its grant, so each token is sent once: $BENCH_TOKENS holds fresh grants'
-- refresh tokens (two per connection: wrk formats a new request when it reconnects a socket, and
-- the token of the lost request is gone), and the rotated token of each answer goes back into the
-- queue for the next request. A refused refresh loses its grant; once the queue is empty, requests
-- carry no token and count as errors.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
local basic = "Basic " .. os.getenv("BENCH_BASIC")
local queue, head, tail = {}, 1, 0
for token in io.lines(os.getenv("BENCH_TOKENS")) do
  tail = tail + 1
  queue[tail] = token
end
request = function()
  local token = "none"
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  end
  return wrk.format("POST", "/oauth2/token",
    { Authorization = basic, ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&refresh_token=" .. token)
end
response = function(status, headers, body)
  local token = status == 200 and body:match('"refresh_token":"([^"]+)"')
  if token then
    tail = tail + 1
    queue[tail] = token
  end
end
done = report
