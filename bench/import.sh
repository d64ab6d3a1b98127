#!/usr/bin/env bash
# The import benchmark (issue 21: "a million users import in minutes, not hours"): writes
# BENCH_USERS lines (default 1,000,000) of the import format — an email login ID (verified), a
# bcrypt or PBKDF2 hash, a name and a group — and times `tessera user import` into an empty
# database: SQLite, then PostgreSQL when BENCH_PG_URL (or the test server) is there.
#
#   bash bench/import.sh
#   BENCH_USERS=100000 bash bench/import.sh
set -euo pipefail
cd "$(dirname "$0")/.."
users="${BENCH_USERS:-1000000}"
if [[ -n "${BENCH_BIN:-}" ]]; then
  bin="$BENCH_BIN"
else
  cargo build --release -p tessera
  bin="$PWD/target/release/tessera"
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$users" >"$dir/users.jsonl" <<'PY'
import json, sys
n = int(sys.argv[1])
bcrypt = "$2b$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS"
pbkdf2 = "$pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0MTIzNA$wheZis4WMGFy.7bhdev/G/YeD76DK1WUFiU5ngBGWLk"
out = sys.stdout
for i in range(n):
    out.write(json.dumps({
        "identities": [{"type": "email", "value": f"user{i}@example.com", "verified": True}],
        "password_hash": bcrypt if i % 2 else pbkdf2,
        "profile": {"given_name": f"Given{i}", "family_name": "Imported"},
        "groups": [f"team{i % 100}"],
    }) + "\n")
PY
echo "## Import ($(date -u +%Y-%m-%d), $(nproc) cores, $users users)"
echo
echo "| database | seconds | users/s | refused |"
echo "|---|---:|---:|---:|"
run() {
  local label=$1 url=$2 started elapsed report
  (cd "$dir" && DATABASE_URL="$url" TESSERA__LOG__LEVEL=warn "$bin" migrate >/dev/null)
  started=$(date +%s.%N)
  report=$(cd "$dir" && DATABASE_URL="$url" TESSERA__LOG__LEVEL=warn "$bin" user import "$dir/users.jsonl" --json)
  elapsed=$(echo "$(date +%s.%N) - $started" | bc)
  python3 - "$label" "$elapsed" "$users" "$report" <<'PY'
import json, sys
label, elapsed, users, report = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
print(f"| {label} | {elapsed:.0f} | {users / elapsed:,.0f} | {len(report['refused'])} |")
PY
}
run SQLite "sqlite://$dir/import.db?mode=rwc"
pg="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
if command -v psql >/dev/null && psql "$pg" -Atqc 'SELECT 1' >/dev/null 2>&1; then
  db="tessera_bench_import_$$"
  psql "$pg" -qc "CREATE DATABASE $db" >/dev/null
  run PostgreSQL "${pg%/*}/$db?sslmode=disable"
  psql "$pg" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null
fi
