#!/usr/bin/env bash
# The tenants benchmark (SPEC §11: "10,000 tenants with a few users each run in the same memory
# budget as one"). In one run, on SQLite, two servers from the same release build:
#
#   single: a database with the default tenant only;
#   many:   the same, plus BENCH_TENANTS tenants (default 10,000) of 3 users each, created by
#           tessera-bench-tenants through the tenant and sign-up use cases, never used.
#
# For each: RSS once started and idle, UserInfo throughput on the default tenant (wrk, as in
# run.sh), RSS at rest after that load (the like-for-like comparison: both servers have then
# served the same requests). For "many" also UserInfo inside tenant t00000 (under /t/t00000),
# and the memory a used tenant costs: BENCH_LOADED tenants (default 200) each answer discovery
# once (which loads its keys and schema), then RSS again.
#
#   bash bench/tenants.sh
#   BENCH_TENANTS=1000 BENCH_SECONDS=5 bash bench/tenants.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

tenants="${BENCH_TENANTS:-10000}"
loaded="${BENCH_LOADED:-200}"
seconds="${BENCH_SECONDS:-10}"
conns="${BENCH_CONNECTIONS:-64}"
ensure_wrk
# BENCH_BIN, BENCH_PREPARE_BIN, BENCH_FILL_BIN: binaries built elsewhere (as in run.sh).
if [[ -n "${BENCH_BIN:-}" ]]; then
  bin="$BENCH_BIN"
  prepare_bin="${BENCH_PREPARE_BIN:?BENCH_PREPARE_BIN goes with BENCH_BIN}"
  fill_bin="${BENCH_FILL_BIN:?BENCH_FILL_BIN goes with BENCH_BIN}"
else
  cargo build --release -p tessera -p tessera-bench
  bin="$PWD/target/release/tessera"
  prepare_bin="$PWD/target/release/tessera-bench"
  fill_bin="$PWD/target/release/tessera-bench-tenants"
fi
export BENCH_WRK_DIR="$PWD/bench/wrk"
email=bench@example.com
password='bench password 1'

# A user and a confidential client in tenant $1 (default: the root); prints "client_id secret".
user_and_client() {
  local tenant=(--tenant "$1") client
  echo "$password" | "$bin" "${tenant[@]}" user create --email "$email" --password-stdin --verified >/dev/null
  client=$("$bin" "${tenant[@]}" client create --name bench --redirect-uri http://127.0.0.1:9/cb \
    --grant authorization_code --grant refresh_token --json)
  python3 -c 'import json,sys; c=json.loads(sys.argv[1]); print(c["client_id"], c["client_secret"])' "$client"
}

# UserInfo at $1 (the issuer: the root, or {root}/t/{id}) with 64 fresh grants; one table row.
userinfo_row() {
  local issuer=$1 label=$2 client_id=$3 client_secret=$4 before
  "$prepare_bin" --base "$issuer" --client-id="$client_id" --client-secret="$client_secret" \
    --redirect-uri http://127.0.0.1:9/cb --email "$email" --password "$password" \
    access-tokens --count 64 >"$dir/access.txt"
  export BENCH_TOKENS="$dir/access.txt" BENCH_PATH_PREFIX="${issuer#"$base"}"
  # A short unrecorded run first, so that neither server is measured cold (page cache, pools).
  wrk -t1 -c"$conns" -d3s --timeout 30s -s "$BENCH_WRK_DIR/userinfo.lua" "$base" >/dev/null 2>&1 || true
  before=$(cpu_ticks "$pid")
  wrk -t1 -c"$conns" -d"${seconds}s" --timeout 30s -s "$BENCH_WRK_DIR/userinfo.lua" "$base" >"$dir/wrk.out" 2>&1 || true
  row "$label" "$conns" $(($(cpu_ticks "$pid") - before)) <"$dir/wrk.out"
}

measure() {
  local name=$1 many=$2 port
  dir=$(mktemp -d)
  port=$(free_port)
  base="http://127.0.0.1:$port"
  export DATABASE_URL="sqlite://$dir/bench.db?mode=rwc"
  export TESSERA__SERVER__LISTEN="127.0.0.1:$port" TESSERA__SERVER__ISSUER="$base"
  export TESSERA__LOG__LEVEL=warn
  (cd "$dir" && "$bin" migrate >/dev/null)
  local root tenant=()
  read -r -a root < <(cd "$dir" && user_and_client default)
  if [[ $many == 1 ]]; then
    local started=$SECONDS
    "$fill_bin" --database-url "$DATABASE_URL" --count "$tenants" --users 3 2>/dev/null
    echo "($tenants tenants × 3 users created in $((SECONDS - started)) s)"
    read -r -a tenant < <(cd "$dir" && user_and_client t00000)
  fi
  (cd "$dir" && exec "$bin" serve) &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  wait_ready "$base"
  wait_idle "$pid"
  local at_start
  at_start=$(rss_mib "$pid")
  echo
  echo "### $name"
  echo
  echo "| scenario | connections | requests/s | p50 ms | p99 ms | server CPU µs/request | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  userinfo_row "$base" "userinfo, default tenant" "${root[0]}" "${root[1]}"
  wait_idle "$pid"
  local after_default
  after_default=$(rss_mib "$pid")
  if [[ $many == 1 ]]; then
    userinfo_row "$base/t/t00000" "userinfo, tenant t00000" "${tenant[0]}" "${tenant[1]}"
    wait_idle "$pid"
  fi
  echo
  echo "RSS: $at_start MiB once started; $after_default MiB at rest after the default tenant's load; $(rss_mib "$pid") MiB at rest after all (peak $(peak_mib "$pid") MiB)."
  if [[ $many == 1 ]]; then
    local before_loading n
    before_loading=$(rss_mib "$pid")
    for ((n = 1; n <= loaded; n++)); do
      curl -fs -o /dev/null "$base/t/$(printf 't%05d' "$n")/.well-known/openid-configuration"
    done
    wait_idle "$pid"
    echo "After $loaded more tenants each answered discovery once (keys and schema loaded): RSS $(rss_mib "$pid") MiB ($(awk -v a="$before_loading" -v b="$(rss_mib "$pid")" -v n="$loaded" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }') KiB per loaded tenant)."
  fi
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  trap - EXIT
  rm -rf "$dir"
}

echo "## Tenants ($(date -u +%Y-%m-%d), $(nproc) cores, SQLite, ${seconds}s per row, wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'))"
measure "single: the default tenant only" 0
measure "many: the default tenant and $tenants tenants of 3 users" 1
