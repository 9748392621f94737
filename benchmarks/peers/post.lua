-- wrk script: POST one fixed JSON body, print a JSON summary line when done.
--
--   wrk -t2 -c16 -d5s -s post.lua http://127.0.0.1:PORT/path -- BODY_FILE [CONTENT_TYPE]
--
-- The body is read once per wrk thread in init(); done() prints one line starting with
-- "WRK_JSON " holding requests, duration, latency percentiles (microseconds) and errors,
-- where "status" counts responses with a status >= 400.

function init(args)
   local path = args[1]
   if path == nil then
      error("usage: wrk ... -s post.lua URL -- BODY_FILE [CONTENT_TYPE]")
   end
   local f = assert(io.open(path, "rb"))
   wrk.body = f:read("*a")
   f:close()
   wrk.method = "POST"
   wrk.headers["Content-Type"] = args[2] or "application/json"
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"latency_us": {"mean": %.1f, "stdev": %.1f, "min": %d, "max": %d, ' ..
      '"p50": %d, "p90": %d, "p99": %d, "p999": %d}, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      latency.mean, latency.stdev, latency.min, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9),
      e.connect, e.read, e.write, e.status, e.timeout))
end
