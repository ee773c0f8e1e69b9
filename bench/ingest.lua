-- wrk script: POST the same realistic order again and again; print the figures as JSON.
-- BENCH_BODY_FILE holds the order JSON, BENCH_TOKEN the API token.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Shopify-Access-Token"] = os.getenv("BENCH_TOKEN")
local file = io.open(os.getenv("BENCH_BODY_FILE"), "r")
wrk.body = file:read("*a")
file:close()

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration,
    errors.connect + errors.read + errors.write + errors.status + errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
