-- wrk scenario: a mix of reads and versioned writes. reads=P percent of the requests are GET /user/{id}
-- of a random profile among the first K; the rest are writes (PATCH {"name"} by default, or PUT) of
-- the thread's own profiles in [write_from, K], tracked as in writer.lua.
--   wrk -t2 -c32 -d600s --latency -s bench/wrk/mixed_user.lua http://127.0.0.1:8080 -- \
--     profiles=K threads=2 reads=90 [method=PATCH] [write_from=N] [versions=PREFIX] [avatar=FILE]
dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "common.lua")
dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "writer.lua")

local profiles, reads = 1000, 90

function init(args)
  local options = parse_args(args, { profiles = "1000", threads = "1", method = "PATCH", reads = "90" })
  profiles = tonumber(options.profiles)
  reads = tonumber(options.reads)
  writer_init(options)
  math.randomseed(os.time() + thread_index * 7919)
end

function request()
  if math.random(100) <= reads then return writer_get(math.random(profiles)) end
  return writer_request()
end

function response(status, headers, body)
  count_status(status)
  writer_response(status, headers, body)
end

function done(summary, latency, requests)
  report("mixed", summary, latency)
end
