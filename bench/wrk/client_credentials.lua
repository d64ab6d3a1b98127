-- POST /oauth2/token with grant_type=client_credentials and client_secret_basic
-- ($BENCH_BASIC is the base64 of client_id:client_secret).
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.path = "/oauth2/token"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=client_credentials"
done = report
