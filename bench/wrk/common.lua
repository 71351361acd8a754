-- Shared by get_user.lua and patch_user.lua (loaded with dofile relative to the script's folder).
-- Profile ids are the ones bench/profile_loadgen creates: 00000000-0000-4000-8000-<12-digit n>.

function profile_id(n)
  return string.format("00000000-0000-4000-8000-%012d", n)
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
    'JSON {"tool":"wrk","mode":"%s","requests":%d,"ok":%d,"duration_s":%.3f,"rps":%.1f,' ..
    '"p50_ms":%.3f,"p99_ms":%.3f,"status":{%s},"socket_errors":%d}\n',
    kind, summary.requests, ok, seconds, ok / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, table.concat(codes, ","),
    e.connect + e.read + e.write + e.timeout))
end
