#!/usr/bin/env bash
# Tessera's load benchmark. Builds a release binary, starts it on SQLite (and on PostgreSQL when one
# answers on 127.0.0.1:5432), creates a user and a client with the CLI, then drives the server with
# tessera-bench: discovery, JWKS, UserInfo, client_credentials, token refresh and password login,
# at 32 and 256 connections. Prints requests/s, p50/p99 latency and the server's memory.
#
#   bash bench/run.sh                      # everything
#   BENCH_SECONDS=5 BENCH_CONNECTIONS=32 BENCH_ONLY=userinfo,discovery bash bench/run.sh
#
# The load generator runs on the same machine as the server, so both share its cores.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${BENCH_SECONDS:-10}"
connections="${BENCH_CONNECTIONS:-32,256}"
only="${BENCH_ONLY:-}"
pg_url="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

cargo build --release -p tessera -p tessera-bench
bin="$PWD/target/release/tessera"
load="$PWD/target/release/tessera-bench"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_backend() {
  local name=$1 url=$2
  local dir port pid
  dir=$(mktemp -d)
  port=$(free_port)
  export DATABASE_URL="$url"
  export TESSERA__SERVER__LISTEN="127.0.0.1:$port"
  export TESSERA__SERVER__ISSUER="http://127.0.0.1:$port"
  export TESSERA__LOG__LEVEL=warn
  cd "$dir"
  "$bin" migrate >/dev/null
  echo 'bench password 1' | "$bin" user create --email bench@example.com --password-stdin --verified >/dev/null
  local client
  client=$("$bin" client create --name bench --redirect-uri http://127.0.0.1:9/cb \
    --grant authorization_code --grant refresh_token --grant client_credentials --json)
  local client_id client_secret
  client_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$client")
  client_secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$client")
  "$bin" serve &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo
  echo "## $name ($(date -u +%Y-%m-%d), $(nproc) cores, ${seconds}s per row)"
  echo
  echo "Server memory at start: $(grep VmRSS /proc/$pid/status | awk '{print $2/1024 " MiB"}')"
  echo
  local only_arg=()
  if [[ -n "$only" ]]; then only_arg=(--only "$only"); fi
  "$load" --base "http://127.0.0.1:$port" --client-id "$client_id" --client-secret "$client_secret" \
    --redirect-uri http://127.0.0.1:9/cb --email bench@example.com --password 'bench password 1' \
    --connections "$connections" --seconds "$seconds" "${only_arg[@]}"
  echo
  echo "Server memory after the run: RSS $(grep VmRSS /proc/$pid/status | awk '{print $2/1024 " MiB"}'), peak $(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MiB"}')"
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
  base="${pg_url%/*}"
  run_backend "PostgreSQL" "$base/$db"
  psql "$pg_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
else
  echo "PostgreSQL is not reachable on 127.0.0.1:5432: skipped."
fi
