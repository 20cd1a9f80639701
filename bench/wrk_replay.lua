-- Replays pre-signed webhook requests, one distinct message each.
-- File format, one request per line: path<TAB>X-Twilio-Signature<TAB>form body.
-- Arguments after "--": <file> <threads>. Thread k replays lines k, k+threads, ...
-- Pacing for sustained-rate runs: WRK_DELAY_MS = pause before each request on each connection.
local requests = {}
local position = 0
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "0")
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end

function init(args)
  local threads = tonumber(args[2] or "1")
  local i = 0
  for line in io.lines(args[1]) do
    i = i + 1
    if (i - 1) % threads == (tid - 1) then
      local path, sig, body = line:match("([^\t]*)\t([^\t]*)\t(.*)")
      requests[#requests + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = sig,
      }, body)
    end
  end
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function delay()
  return delay_ms
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d errors_status=%d errors_connect=%d errors_timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
