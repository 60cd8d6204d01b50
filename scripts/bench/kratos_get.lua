-- wrk: GET a random identity from the fake Kratos (its own latency baseline).
local last = tonumber(os.getenv("BENCH_IDENTITIES") or "10000000") - 1
request = function()
  local id = string.format("1d000000-0000-4000-8000-%012x", math.random(0, last))
  return wrk.format("GET", "/admin/identities/" .. id)
end
