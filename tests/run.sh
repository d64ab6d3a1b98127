#!/usr/bin/env bash
# Tessera's whole test suite: installs what it needs, then runs every test on SQLite, then again on
# PostgreSQL (127.0.0.1:5432, user postgres). Each test makes its own database.
#
#   bash tests/run.sh            # everything
#   bash tests/run.sh -- NAME    # only tests whose name contains NAME (passed to cargo test)
#
# Environment: TESSERA_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test) names the
# server and a maintenance database; with CI set, an unreachable PostgreSQL fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

filter=()
if [[ "${1:-}" == "--" ]]; then shift; filter=("$@"); fi

say() { printf '\n==> %s\n' "$*"; }

# 1. Headless Chromium and its WebDriver, for the browser tests.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  say "installing chromium and chromium-driver"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# 2. PostgreSQL: start the local cluster if it is installed and stopped.
pg_url="${TESSERA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
  say "starting PostgreSQL"
  for version in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi

# Drops the per-test databases of earlier runs.
drop_test_databases() {
  command -v psql >/dev/null 2>&1 || return 0
  psql "$pg_url" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'tessera_t_%'" 2>/dev/null |
    while read -r db; do
      psql "$pg_url" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
}

# 3. scim2-tester (PyPI), pinned, in a virtual environment of its own: run against a live server by
#    tests/scim.rs.
venv=target/scim-venv
if ! "$venv/bin/python" -c 'import scim2_tester' >/dev/null 2>&1; then
  say "installing scim2-tester into $venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check \
    scim2-tester==0.5.2 scim2-client==0.13.2 scim2-models==0.12.3
fi
export TESSERA_SCIM_TESTER_PYTHON="$PWD/$venv/bin/python"
export TESSERA_REQUIRE_SCIM_TESTER=1

# 4. Build once, with the profile the tests use.
say "building"
cargo test --workspace --all-targets --no-run

# 5. SQLite.
say "test suite on SQLite"
env -u TESSERA_TEST_DATABASE_URL cargo test --workspace --all-targets -- "${filter[@]}"

# 6. PostgreSQL.
if pg_up; then
  say "test suite on PostgreSQL ($pg_url)"
  drop_test_databases
  TESSERA_TEST_DATABASE_URL="$pg_url" cargo test --workspace --all-targets -- "${filter[@]}"
  drop_test_databases
elif [[ -n "${CI:-}" ]]; then
  echo "error: PostgreSQL is not reachable on 127.0.0.1:5432; CI runs the suite on both databases" >&2
  exit 1
else
  echo "warning: PostgreSQL is not reachable on 127.0.0.1:5432; skipped the PostgreSQL run" >&2
fi
say "all tests passed on SQLite and PostgreSQL"
