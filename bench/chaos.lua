-- wrk script for bench/chaos.py: counts every answer by status and, for the others than
-- 2xx, by the first words of the body (the gateway's own answers name their cause). At the
-- end writes one line per bucket, "<count>\t<status>\t<cause>", to $CHAOS_OUT.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
end

function response(status, headers, body)
  local key
  if status >= 200 and status < 300 then
    key = tostring(status) .. "\t"
  else
    local cause = (body or ""):sub(1, 70):gsub("[\r\n\t]", " ")
    key = tostring(status) .. "\t" .. cause
  end
  counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
  end
  local out = io.open(os.getenv("CHAOS_OUT"), "w")
  for k, v in pairs(total) do out:write(string.format("%d\t%s\n", v, k)) end
  local e = summary.errors
  out:write(string.format("%d\tconnect\t\n", e.connect))
  out:write(string.format("%d\tread\t\n", e.read))
  out:write(string.format("%d\twrite\t\n", e.write))
  out:write(string.format("%d\ttimeout\t\n", e.timeout))
  out:close()
end
