#!/usr/bin/env bash
# The tenants benchmark (SPEC §11: "10,000 tenants with a few users each run in the same memory
# budget as one"). In one run, on SQLite, two servers from the same release build:
#
#   single: a database with the default tenant only;
#   many:   the same, plus BENCH_TENANTS tenants (default 10,000) of 3 users each, created by
#           tessera-bench-tenants through the tenant and sign-up use cases, never used.
#
# Both servers run side by side and are measured in BENCH_ROUNDS (default 3) alternating rounds
# (the machine's speed drifts by more than the effect measured): UserInfo on the default tenant
# of each, and on tenant t00000 of "many" (under /t/t00000), each row after a short warm-up;
# the medians are compared. Then RSS once started and at rest after the same number of runs,
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

# Prepares a server: database, users, clients; for "many" also the tenants. Sets, for server $1
# (single or many): dir_$1, base_$1, pid_$1, root_$1 (client), tenant_$1 (client in t00000).
setup() {
  local name=$1 many=$2 dir port
  dir=$(mktemp -d)
  port=$(free_port)
  local base="http://127.0.0.1:$port"
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
  local pid=$!
  wait_ready "$base"
  wait_idle "$pid"
  printf -v "dir_$name" '%s' "$dir"
  printf -v "base_$name" '%s' "$base"
  printf -v "pid_$name" '%s' "$pid"
  printf -v "started_$name" '%s' "$(rss_mib "$pid")"
  printf -v "root_$name" '%s' "${root[*]}"
  printf -v "tenant_$name" '%s' "${tenant[*]:-}"
}

# UserInfo of server $1 at issuer path $2 ("" or /t/t00000) with client "$3"; one table row,
# and the requests/s appended to $dir_$1/rps$2.
userinfo_row() {
  local name=$1 prefix=$2 label=$3 client base pid dir before
  read -r -a client <<<"$4"
  base_name="base_$name"; base=${!base_name}
  pid_name="pid_$name"; pid=${!pid_name}
  dir_name="dir_$name"; dir=${!dir_name}
  "$prepare_bin" --base "$base$prefix" --client-id="${client[0]}" --client-secret="${client[1]}" \
    --redirect-uri http://127.0.0.1:9/cb --email "$email" --password "$password" \
    access-tokens --count 64 >"$dir/access.txt"
  export BENCH_TOKENS="$dir/access.txt" BENCH_PATH_PREFIX="$prefix"
  # A short unrecorded run first, so that no server is measured cold (page cache, pools).
  wrk -t1 -c"$conns" -d3s --timeout 30s -s "$BENCH_WRK_DIR/userinfo.lua" "$base" >/dev/null 2>&1 || true
  before=$(cpu_ticks "$pid")
  wrk -t1 -c"$conns" -d"${seconds}s" --timeout 30s -s "$BENCH_WRK_DIR/userinfo.lua" "$base" >"$dir/wrk.out" 2>&1 || true
  row "$label" "$conns" $(($(cpu_ticks "$pid") - before)) <"$dir/wrk.out" | tee -a "$dir/rows"
  wait_idle "$pid"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

rounds="${BENCH_ROUNDS:-3}"
echo "## Tenants ($(date -u +%Y-%m-%d), $(nproc) cores, SQLite, ${seconds}s per row, $rounds alternating rounds, wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'))"
setup single 0
setup many 1
trap 'kill $pid_single $pid_many 2>/dev/null || true' EXIT
echo
echo "| scenario | connections | requests/s | p50 ms | p99 ms | server CPU µs/request | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for ((r = 1; r <= rounds; r++)); do
  userinfo_row single "" "round $r: single, default tenant" "$root_single"
  userinfo_row many "" "round $r: many, default tenant" "$root_many"
  userinfo_row many /t/t00000 "round $r: many, tenant t00000" "$tenant_many"
  # The same number of runs on both servers, so that memory at rest compares like for like.
  userinfo_row single "" "round $r: single, again" "$root_single"
done
rps() { grep "$2" "$1/rows" | awk -F'|' '{ gsub(/ /, "", $4); print $4 }' | median; }
single_rps=$(rps "$dir_single" "single, default")
many_rps=$(rps "$dir_many" "many, default")
tenant_rps=$(rps "$dir_many" "many, tenant")
echo
echo "Median UserInfo requests/s: single $single_rps; many, default tenant $many_rps ($(awk -v a="$many_rps" -v b="$single_rps" 'BEGIN { printf "%+.1f", (a / b - 1) * 100 }') %); many, inside t00000 $tenant_rps ($(awk -v a="$tenant_rps" -v b="$single_rps" 'BEGIN { printf "%+.1f", (a / b - 1) * 100 }') %)."
echo "RSS once started: single $started_single MiB, many $started_many MiB; at rest after the same load: single $(rss_mib "$pid_single") MiB, many $(rss_mib "$pid_many") MiB."
before_loading=$(rss_mib "$pid_many")
for ((n = 1; n <= loaded; n++)); do
  curl -fs -o /dev/null "$base_many/t/$(printf 't%05d' "$n")/.well-known/openid-configuration"
done
wait_idle "$pid_many"
echo "After $loaded more tenants each answered discovery once (keys and schema loaded): RSS $(rss_mib "$pid_many") MiB ($(awk -v a="$before_loading" -v b="$(rss_mib "$pid_many")" -v n="$loaded" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }') KiB per loaded tenant)."
kill "$pid_single" "$pid_many"
wait 2>/dev/null || true
trap - EXIT
rm -rf "$dir_single" "$dir_many"
