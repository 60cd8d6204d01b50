-- wrk: POST resolve for a random already-linked identity (ids from a file).
local ids = {}
local file = os.getenv("BENCH_IDS") or "/tmp/identity-link-bench-ids.txt"
for line in io.lines(file) do ids[#ids + 1] = line end
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Caller"] = "bench"
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format(nil, nil, nil, '{"kratosIdentityId":"' .. id .. '"}')
end
