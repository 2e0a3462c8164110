-- wrk script: POST one JPEG as multipart/form-data (field "file"), as a browser upload does.
-- Environment: GG_BENCH_IMAGE (path of the JPEG), GG_BENCH_MAX_PER_THREAD (stop a thread
-- after this many responses; 0 = only wrk's -d duration bounds the run).
-- done() prints one line "GGBENCH {json}" that bench/load.py parses.

local image_path = assert(os.getenv("GG_BENCH_IMAGE"), "GG_BENCH_IMAGE is not set")
local fh = assert(io.open(image_path, "rb"))
local image = fh:read("*a")
fh:close()

local boundary = "----gourmetgram-bench-7d1c0f"
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
local head = "--" .. boundary .. "\r\n" .. 'Content-Disposition: form-data; name="file"; filename="food-'
local tail = '.jpg"\r\nContent-Type: image/jpeg\r\n\r\n' .. image .. "\r\n--" .. boundary .. "--\r\n"

-- A distinct file name per request, as distinct users upload distinct files (the
-- reference baseline saves each upload under its name; one shared name would race).
local threads_started = 0
function setup(thread)
  threads_started = threads_started + 1
  thread:set("thread_id", threads_started)
end

local sent = 0
function request()
  sent = sent + 1
  return wrk.format(nil, nil, nil, head .. tostring(thread_id) .. "-" .. sent .. tail)
end

local max_per_thread = tonumber(os.getenv("GG_BENCH_MAX_PER_THREAD") or "0")
local seen = 0

function response(status, headers, body)
  seen = seen + 1
  if max_per_thread > 0 and seen >= max_per_thread then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'GGBENCH {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"min": %d, "mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p95": %d, "p99": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99)))
end
