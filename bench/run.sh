#!/usr/bin/env bash
# Tessera's load benchmark. Builds a release binary, starts it on SQLite (and on PostgreSQL when one
# answers on 127.0.0.1:5432), creates a user and a client with the CLI, prepares tokens through the
# real login form and authorization code flow (tessera-bench), then drives the server with wrk:
# discovery, JWKS, UserInfo, client_credentials, token refresh and password login, at 32 and 256
# connections. Prints requests/s, p50/p99 latency, the server's CPU time per request and its memory.
#
#   bash bench/run.sh                      # everything
#   BENCH_SECONDS=5 BENCH_CONNECTIONS=256 BENCH_ONLY=userinfo,discovery bash bench/run.sh
#   BENCH_SKIP_POSTGRES=1 bash bench/run.sh
#   BENCH_BIN=/tmp/old/tessera BENCH_PREPARE_BIN=/tmp/old/tessera-bench bash bench/run.sh
#
# wrk runs on the same machine as the server, with one thread, so both share its two cores.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${BENCH_SECONDS:-10}"
connections="${BENCH_CONNECTIONS:-32,256}"
only="${BENCH_ONLY:-}"
pg_url="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
scenarios=(discovery jwks userinfo client_credentials refresh login)

source bench/lib.sh
ensure_wrk

# BENCH_BIN / BENCH_PREPARE_BIN: measure binaries built elsewhere (say, the commit before a change,
# to compare both in one run on one machine) instead of building this checkout.
if [[ -n "${BENCH_BIN:-}" ]]; then
  bin="$BENCH_BIN"
  prepare_bin="${BENCH_PREPARE_BIN:?BENCH_PREPARE_BIN goes with BENCH_BIN}"
else
  cargo build --release -p tessera -p tessera-bench
  bin="$PWD/target/release/tessera"
  prepare_bin="$PWD/target/release/tessera-bench"
fi
export BENCH_WRK_DIR="$PWD/bench/wrk"

wanted() { [[ -z "$only" || ",$only," == *",$1,"* ]]; }

run_backend() {
  local name=$1 url=$2
  local dir port pid base
  dir=$(mktemp -d)
  port=$(free_port)
  base="http://127.0.0.1:$port"
  export DATABASE_URL="$url"
  export TESSERA__SERVER__LISTEN="127.0.0.1:$port"
  export TESSERA__SERVER__ISSUER="$base"
  export TESSERA__LOG__LEVEL=warn
  cd "$dir"
  "$bin" migrate >/dev/null
  local email=bench@example.com password='bench password 1'
  echo "$password" | "$bin" user create --email "$email" --password-stdin --verified >/dev/null
  local client client_id client_secret
  client=$("$bin" client create --name bench --redirect-uri http://127.0.0.1:9/cb \
    --grant authorization_code --grant refresh_token --grant client_credentials --json)
  client_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$client")
  client_secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$client")
  "$bin" serve &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  wait_ready "$base"
  local prepare=("$prepare_bin" --base "$base" --client-id="$client_id" --client-secret="$client_secret"
    --redirect-uri http://127.0.0.1:9/cb --email "$email" --password "$password")
  "${prepare[@]}" access-tokens --count 64 >"$dir/access.txt"
  local csrf
  mapfile -t csrf < <("${prepare[@]}" login-form)
  export BENCH_BASIC BENCH_EMAIL="$email" BENCH_PASSWORD="$password"
  BENCH_BASIC=$(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)
  export BENCH_CSRF_COOKIE="${csrf[0]}" BENCH_CSRF_TOKEN="${csrf[1]}"

  echo
  echo "## $name ($(date -u +%Y-%m-%d), $(nproc) cores, ${seconds}s per row, wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'))"
  echo
  echo "Server memory at start: $(grep VmRSS /proc/$pid/status | awk '{print $2/1024 " MiB"}')"
  echo
  echo "| scenario | connections | requests/s | p50 ms | p99 ms | server CPU µs/request | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  local scenario conns script path before
  for scenario in "${scenarios[@]}"; do
    wanted "$scenario" || continue
    path=""
    case $scenario in
      discovery) script=plain.lua path=/.well-known/openid-configuration ;;
      jwks) script=plain.lua path=/oauth2/jwks ;;
      *) script=$scenario.lua ;;
    esac
    export BENCH_TOKENS="$dir/access.txt"
    for conns in ${connections//,/ }; do
      if [[ $scenario == refresh ]]; then
        # Fresh grants, two per connection: a refresh token is good for one use, and wrk asks
        # for a request again when it reconnects a socket, which takes a spare from the queue.
        "${prepare[@]}" refresh-tokens --count $((2 * conns)) >"$dir/refresh.txt"
        export BENCH_TOKENS="$dir/refresh.txt"
      fi
      before=$(cpu_ticks "$pid")
      wrk -t1 -c"$conns" -d"${seconds}s" --timeout 30s -s "$BENCH_WRK_DIR/$script" "$base$path" >"$dir/wrk.out" 2>&1 || true
      row "$scenario" "$conns" $(($(cpu_ticks "$pid") - before)) <"$dir/wrk.out"
    done
  done
  # wrk stops with requests still queued in the server (256 logins take seconds to drain): wait
  # until the server is idle, so the memory below is that of a server at rest after the load.
  wait_idle "$pid"
  echo
  echo "Server memory after the run, once idle: RSS $(grep VmRSS /proc/$pid/status | awk '{print $2/1024 " MiB"}'), peak $(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MiB"}')"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  trap - EXIT
  cd - >/dev/null
  rm -rf "$dir"
}

run_backend "SQLite" "sqlite://data/bench.db?mode=rwc"

if [[ -n "${BENCH_SKIP_POSTGRES:-}" ]]; then
  echo "PostgreSQL skipped (BENCH_SKIP_POSTGRES)."
elif (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && command -v psql >/dev/null 2>&1; then
  db="tessera_bench_$$"
  psql "$pg_url" -qc "CREATE DATABASE $db" >/dev/null
  # A database on the same host: no TLS (sqlx's default `prefer` encrypts loopback traffic
  # whenever the server offers TLS, which took more of UserInfo's CPU than the query).
  run_backend "PostgreSQL" "${pg_url%/*}/$db?sslmode=disable"
  psql "$pg_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
else
  echo "PostgreSQL is not reachable on 127.0.0.1:5432: skipped."
fi
