-- wrk scenario: GET /user/{id} of a random profile among the first K.
--   wrk -t2 -c16 -d10s --latency -s bench/wrk/get_user.lua http://127.0.0.1:8080 -- profiles=K
dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "common.lua")

local profiles = 1000

function init(args)
  profiles = tonumber(parse_args(args, { profiles = profiles }).profiles)
  math.randomseed(os.time() + thread_index * 7919)
end

function request()
  return wrk.format("GET", "/user/" .. profile_id(math.random(profiles)))
end

function response(status, headers, body)
  count_status(status)
end

function done(summary, latency, requests)
  report("get", summary, latency)
end
