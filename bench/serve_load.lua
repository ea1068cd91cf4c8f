-- wrk script for bench/serve.py: each thread sends its share of the tokens in BENCH_TOKENS
-- (one per line) once, then stops and leaves a file in BENCH_DONE (bench/serve.py then ends wrk
-- with SIGINT); done() prints one JSON line with the counts, the time and the latencies.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *t);
]]
local function now_us()
  local t = ffi.new("bench_timespec")
  ffi.C.clock_gettime(1, t)  -- CLOCK_MONOTONIC
  return tonumber(t.tv_sec) * 1000000 + math.floor(tonumber(t.tv_nsec) / 1000)
end
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  nthreads = tonumber(os.getenv("BENCH_THREADS"))
  path = os.getenv("BENCH_PATH") or "/v3"
  ctype = os.getenv("BENCH_CTYPE") or "application/secevent+jwt"
  tokens = {}
  local i = 0
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if i % nthreads == tid then table.insert(tokens, line) end
    i = i + 1
  end
  sent, accepted, refused, other, idle = 0, 0, 0, 0, 0
  t0, t1 = 0, 0
end

function request()
  -- wrk may call request() once before any connection sends it: that call gets no token.
  if not primed then
    primed = true
    return wrk.format("GET", "/healthz")
  end
  if sent >= #tokens then
    return wrk.format("GET", "/healthz")
  end
  if sent == 0 then t0 = now_us() end
  sent = sent + 1
  return wrk.format("POST", path, {["Content-Type"] = ctype}, tokens[sent])
end

function response(status, headers, body)
  if status == 202 then accepted = accepted + 1
  elseif status == 400 then refused = refused + 1
  elseif status == 200 then idle = idle + 1
  else other = other + 1 end
  if t1 == 0 and accepted + refused + other >= #tokens then
    t1 = now_us()
    local f = io.open(os.getenv("BENCH_DONE") .. "/" .. tid, "w")
    f:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local a, r, o, s, first, last = 0, 0, 0, 0, nil, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted"); r = r + t:get("refused"); o = o + t:get("other")
    s = s + t:get("sent")
    local t0, t1 = t:get("t0"), t:get("t1")
    if first == nil or t0 < first then first = t0 end
    if t1 > last then last = t1 end
  end
  io.write(string.format(
    '{"duration_us": %d, "sent": %d, "accepted": %d, "refused": %d, "other": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n',
    last - first, s, a, r, o, latency:percentile(50), latency:percentile(99)))
end
