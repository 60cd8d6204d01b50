-- wrk: GET a random identity from the Kratos stand-in (its own latency baseline).
local function uuid()
  local template = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
  return (string.gsub(template, "[xy]", function(c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%x", v)
  end))
end
request = function()
  return wrk.format("GET", "/admin/identities/" .. uuid())
end
