-- Versioned writes for the wrk scenarios put_user.lua and mixed_user.lua (loaded with dofile).
--
-- Each wrk thread owns the ids n in [write_from, profiles] with (n - 1) % threads == its index, so no
-- two threads write one profile; within a thread a profile is written only when no request for it is
-- in flight, so the thread's connections (any number) never race each other. Every write carries
-- If-Match with the version the thread last saw for that profile: from the versions file (lines
-- "n version"; bench/run.sh writes <versions>.<thread index>), else from a GET made first. Any answer
-- naming a profile (the profile itself, or an error's "current") moves its version forward, so a
-- 412 costs one failed write, not a stuck profile. Responses are matched to profiles by the id in
-- their body, since wrk does not say which connection or request an answer belongs to.

local owned, versions, in_flight = {}, {}, {}
local cursor, sequence = 0, 0
local method, avatar_b64 = "PUT", nil

function writer_init(options)
  local profiles = tonumber(options.profiles)
  local thread_count = tonumber(options.threads)
  local write_from = tonumber(options.write_from or "1")
  method = string.upper(options.method or method)
  for n = write_from, profiles do
    if (n - 1) % thread_count == thread_index then table.insert(owned, n) end
  end
  if #owned == 0 then table.insert(owned, write_from + thread_index) end
  if options.versions and options.versions ~= "" then
    local file = io.open(options.versions .. "." .. thread_index, "r")
    if file then
      for line in file:lines() do
        local n, version = line:match("^(%d+)%s+(%d+)")
        if n then versions[tonumber(n)] = tonumber(version) end
      end
      file:close()
    end
  end
  if options.avatar and options.avatar ~= "" then
    local file = assert(io.open(options.avatar, "r"))
    avatar_b64 = file:read("*l")
    file:close()
  end
end

local function mark(n, delta)
  local count = (in_flight[n] or 0) + delta
  in_flight[n] = count > 0 and count or nil
end

-- A request for profile n (any profile) counted as in flight.
function writer_get(n)
  mark(n, 1)
  return wrk.format("GET", "/user/" .. profile_id(n))
end

-- The next write: the next owned profile with nothing in flight (a GET when its version is unknown).
function writer_request()
  local n
  for _ = 1, #owned do
    cursor = cursor % #owned + 1
    if in_flight[owned[cursor]] == nil then
      n = owned[cursor]
      break
    end
  end
  if n == nil then return writer_get(owned[math.random(#owned)]) end  -- all busy: more connections than ids
  local version = versions[n]
  if version == nil then return writer_get(n) end
  mark(n, 1)
  sequence = sequence + 1
  local body
  if method == "PATCH" then
    body = string.format('{"name":"wrk t%d #%d"}', thread_index, sequence)
  else
    -- PUT replaces name, email and avatar: send the avatar, or the data set would lose it.
    body = string.format('{"name":"wrk t%d #%d","email":"bench%d@example.com"%s}', thread_index, sequence,
                         n, avatar_b64 and (',"avatar":"' .. avatar_b64 .. '"') or "")
  end
  return wrk.format(method, "/user/" .. profile_id(n), {
    ["Content-Type"] = "application/json",
    ["If-Match"] = '"' .. version .. '"',
  }, body)
end

function writer_response(status, headers, body)
  local n = body_profile_number(body)
  if n == nil then return end
  mark(n, -1)
  local etag = headers["ETag"] or headers["Etag"] or headers["etag"]
  local version = tonumber(etag and etag:match('"(%d+)"') or (body:match('"version":"(%d+)"')))
  if version ~= nil and (versions[n] == nil or version > versions[n]) then versions[n] = version end
end
