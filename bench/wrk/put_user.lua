-- wrk scenario: versioned writes. PUT /user/{id} {"name","email"} (or, with METHOD=PATCH, PATCH {"name"})
-- with If-Match, so every write is a real optimistic-concurrency write.
--   wrk -tC -cC -d10s --latency -s bench/wrk/put_user.lua http://127.0.0.1:8080 -- K C [PUT|PATCH]
-- (K = number of profiles, C = the -t/-c value.)
-- Run it with as many threads as connections (-t == -c): each wrk thread then has one connection and owns
-- the ids n with (n-1) % threads == its index, and tracks each one's version from the ETag of the previous
-- answer (a PATCH without a base version is refused with 428, by design). The first request for each id
-- is a GET to learn its version. On 409/412 (someone else wrote) it takes the version from the "current"
-- profile in the answer; those are counted as non-2xx.
dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "common.lua")

local owned = {}
local versions = {}
local cursor = 0
local in_flight = nil
local sequence = 0
method = "PUT"

function init(args)
  local profiles = tonumber(args[1] or "") or 1000
  local thread_count = tonumber(args[2] or "") or 1
  method = string.upper(args[3] or method)
  for n = 1, profiles do
    if (n - 1) % thread_count == thread_index then table.insert(owned, profile_id(n)) end
  end
  if #owned == 0 then table.insert(owned, profile_id(thread_index + 1)) end
end

function request()
  cursor = cursor % #owned + 1
  in_flight = owned[cursor]
  local version = versions[in_flight]
  if version == nil then
    return wrk.format("GET", "/user/" .. in_flight)
  end
  sequence = sequence + 1
  local body
  if method == "PATCH" then
    body = string.format('{"name":"wrk t%d #%d"}', thread_index, sequence)
  else
    body = string.format('{"name":"wrk t%d #%d","email":"wrk%d@example.com"}', thread_index, sequence,
                         thread_index)
  end
  return wrk.format(method, "/user/" .. in_flight, {
    ["Content-Type"] = "application/json",
    ["If-Match"] = '"' .. version .. '"',
  }, body)
end

function response(status, headers, body)
  count_status(status)
  if in_flight == nil then return end
  local etag = headers["ETag"] or headers["Etag"] or headers["etag"]
  local version = etag and etag:match('"(%d+)"')
  if version == nil and body ~= nil then
    version = body:match('"current":.-"version":"(%d+)"')
  end
  if version ~= nil then versions[in_flight] = version end
end

function done(summary, latency, requests)
  report(string.lower(threads[1] and threads[1]:get("method") or "put"), summary, latency)
end
