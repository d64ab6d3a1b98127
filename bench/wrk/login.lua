-- POST /login through the real form: a valid CSRF pair ($BENCH_CSRF_COOKIE, $BENCH_CSRF_TOKEN)
-- and the right password, so each request is one Argon2id verification and a new session.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
local function form(v)
  return (v:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
wrk.method = "POST"
wrk.path = "/login"
wrk.headers["Cookie"] = "tessera_csrf=" .. os.getenv("BENCH_CSRF_COOKIE")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "csrf_token=" .. form(os.getenv("BENCH_CSRF_TOKEN")) .. "&login_id=" ..
  form(os.getenv("BENCH_EMAIL")) .. "&password=" .. form(os.getenv("BENCH_PASSWORD"))
done = report
