-- Shared by the wrk scenarios (loaded with dofile relative to the script's folder).
-- Profile ids are the benchmark's: 00000000-0000-4000-8000-<12-digit n> (bench/bench_util.h).
-- Scenario arguments come after `--` as key=value pairs, e.g. `-- profiles=10000 threads=2`.

function profile_id(n)
  return string.format("00000000-0000-4000-8000-%012d", n)
end

-- The n of a benchmark profile id found first in a JSON body (a profile, or an error's "current").
function body_profile_number(body)
  local digits = body and body:match('"id":"00000000%-0000%-4000%-8000%-(%d+)"')
  return digits and tonumber(digits)
end

-- key=value arguments; a bare number is taken as profiles= (the scripts' old positional form).
function parse_args(args, defaults)
  local options = {}
  for key, value in pairs(defaults) do options[key] = value end
  for _, arg in ipairs(args or {}) do
    local key, value = arg:match("^([%w_]+)=(.*)$")
    if key then
      options[key] = value
    elseif tonumber(arg) then
      options.profiles = arg
    end
  end
  return options
end

-- Per-thread bookkeeping; done() sums it over threads.
threads = {}
next_thread_index = 0

function setup(thread)
  thread:set("thread_index", next_thread_index)
  next_thread_index = next_thread_index + 1
  table.insert(threads, thread)
end

statuses = {}

function count_status(status)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

-- One JSON line (prefix "JSON ") with successful req/s (2xx only) and latency percentiles.
function report(kind, summary, latency)
  local merged, ok = {}, 0
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses") or {}
    for code, count in pairs(s) do
      merged[code] = (merged[code] or 0) + count
      if tonumber(code) >= 200 and tonumber(code) < 300 then ok = ok + count end
    end
  end
  local seconds = summary.duration / 1e6
  local codes = {}
  for code, count in pairs(merged) do table.insert(codes, string.format('"%s":%d', code, count)) end
  local e = summary.errors
  io.write(string.format(
    'JSON {"tool":"wrk","mode":"%s","threads":%d,"requests":%d,"ok":%d,"duration_s":%.3f,"rps":%.1f,' ..
    '"p50_ms":%.3f,"p99_ms":%.3f,"status":{%s},"socket_errors":%d}\n',
    kind, #threads, summary.requests, ok, seconds, ok / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, table.concat(codes, ","),
    e.connect + e.read + e.write + e.timeout))
end
