-- Shared by every scenario: prints one machine-readable line that bench/run.sh turns into a row.
-- Latencies are in microseconds; "bad" counts answers that were not 2xx/3xx, "failed" socket
-- errors and time-outs.
function report(summary, latency)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d bad=%d failed=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
