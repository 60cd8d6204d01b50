-- wrk: POST resolve for a random identity of the fake Kratos that no user is
-- linked to yet (n at or above BENCH_USERS): the provisioning path.
local first = tonumber(os.getenv("BENCH_USERS") or "100000")
local last = tonumber(os.getenv("BENCH_IDENTITIES") or "10000000") - 1
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
init = function()
  math.randomseed(os.time() * 1000 + (seed or 0))
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local id = string.format("1d000000-0000-4000-8000-%012x", math.random(first, last))
  return wrk.format(nil, nil, nil, '{"kratosIdentityId":"' .. id .. '"}')
end
