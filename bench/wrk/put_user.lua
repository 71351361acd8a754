-- wrk scenario: versioned writes, PUT /user/{id} {"name","email","avatar"} or PATCH {"name"}, with
-- If-Match (see writer.lua for how versions are tracked; any -t and -c work).
--   wrk -t2 -c16 -d10s --latency -s bench/wrk/put_user.lua http://127.0.0.1:8080 -- \
--     profiles=K threads=2 method=PUT|PATCH [versions=PREFIX] [avatar=FILE] [write_from=N]
-- threads= must equal -t. avatar= is a file holding the base64 avatar that PUT sends (without it,
-- PUT clears the profile's avatar). versions= names per-thread files PREFIX.<i> of "n version" lines;
-- without it, the first request for each profile is a GET (counted like the writes).
dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "common.lua")
dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "writer.lua")

method_name = "put"

function init(args)
  local options = parse_args(args, { profiles = "1000", threads = "1", method = "PUT" })
  method_name = string.lower(options.method)
  writer_init(options)
  math.randomseed(os.time() + thread_index * 7919)
end

function request()
  return writer_request()
end

function response(status, headers, body)
  count_status(status)
  writer_response(status, headers, body)
end

function done(summary, latency, requests)
  report(threads[1] and threads[1]:get("method_name") or "put", summary, latency)
end
