# Shared by the benchmark scripts (bench/run.sh, bench/tenants.sh).

# Installs wrk (Debian's package) when it is missing.
ensure_wrk() {
  if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk"
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq wrk >/dev/null
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# CPU time (user + system) of a process so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One row: scenario, connections; wrk's RESULT line on standard input.
row() {
  local scenario=$1 conns=$2 ticks=$3
  awk -v s="$scenario" -v c="$conns" -v t="$ticks" -v hz="$(getconf CLK_TCK)" '
    /^RESULT/ {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      rps = v["requests"] / (v["duration_us"] / 1e6)
      cpu = v["requests"] > 0 ? t / hz * 1e6 / v["requests"] : 0
      printf "| %s | %d | %.0f | %.2f | %.2f | %.0f | %d |\n", s, c, rps, v["p50_us"] / 1000, v["p99_us"] / 1000, cpu, v["bad"] + v["failed"]
      found = 1
    }
    END { if (!found) printf "| %s | %d | wrk gave no result | | | | |\n", s, c }'
}

# Waits until the server process is idle (at most a minute), so memory read next is at rest.
wait_idle() {
  local pid=$1 last now
  last=$(cpu_ticks "$pid")
  for _ in $(seq 1 60); do
    sleep 1
    now=$(cpu_ticks "$pid")
    (( now - last <= 1 )) && break
    last=$now
  done
}

# Resident and peak memory of a process, in MiB.
rss_mib() { grep VmRSS "/proc/$1/status" | awk '{printf "%.1f", $2/1024}'; }
peak_mib() { grep VmHWM "/proc/$1/status" | awk '{printf "%.1f", $2/1024}'; }

# Waits until the server at $1 answers /readyz.
wait_ready() {
  for _ in $(seq 1 100); do
    curl -fs "$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the server at $1 did not start" >&2
  return 1
}
