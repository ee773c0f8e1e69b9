-- wrk script: POST the benchmark's order (bench/run.py order_body, in BENCH_BODY_FILE) with its
-- 3 lines drawn at random from BENCH_VARIANTS (comma-separated ids), so no stock row is hot.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Shopify-Access-Token"] = os.getenv("BENCH_TOKEN")
local file = io.open(os.getenv("BENCH_BODY_FILE"), "r")
local template = file:read("*a")
file:close()
local variants = {}
for id in string.gmatch(os.getenv("BENCH_VARIANTS"), "[^,]+") do
  variants[#variants + 1] = id
end

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function request()
  local n = 0
  local body = string.gsub(template, '"variant_id": %d+', function()
    n = n + 1
    return '"variant_id": ' .. variants[math.random(#variants)]
  end)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration,
    errors.connect + errors.read + errors.write + errors.status + errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
