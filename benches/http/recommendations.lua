-- wrk script: GET /v1/recommendations/{user}?k=20 for users drawn from a file of ids
-- (one per line; path in the USERS environment variable).
local users = {}
for line in io.lines(os.getenv("USERS") or "users.txt") do users[#users + 1] = line end
local i = 0
request = function()
  i = i % #users + 1
  return wrk.format("GET", "/v1/recommendations/" .. users[i] .. "?k=20")
end
