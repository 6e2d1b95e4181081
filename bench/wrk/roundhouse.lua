-- wrk script for the central's controller endpoints, keep-alive, one POST body per request.
--
--   RH_MODE=register  POST /api/controllers/register  {name, address, uuid, version, platform}
--   RH_MODE=heartbeat POST /api/controllers/{uuid}/heartbeat {config_version, trains, ...}
--   RH_MODE=config    GET  /api/controllers/{uuid}/config (no If-None-Match: the whole document)
--   RH_MODE=ping      GET  /api/ping
--
-- RH_IDS_FILE names a file with one controller per line:
-- "uuid name train_id|- config_version secret|-"; a secret goes in X-Controller-Secret.
-- Each wrk thread walks the list from its own offset, so all identities are used. done()
-- prints one line "WRKJSON {...}" with the counts and latency percentiles (microseconds)
-- for bench/bench.py.

local mode = os.getenv("RH_MODE") or "register"
local ids_file = os.getenv("RH_IDS_FILE")
local rows = {}
local counter = 0
local next_tid = 0

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
end

function init(args)
   for line in io.lines(ids_file) do
      local u, n, t, v, s = line:match("^(%S+)%s+(%S+)%s+(%S+)%s+(%d+)%s*(%S*)")
      if u then
         local h = {["Content-Type"] = "application/json"}
         if s ~= "" and s ~= "-" then
            h["X-Controller-Secret"] = s
         end
         rows[#rows + 1] = {uuid = u, name = n, train = t, version = v, headers = h}
      end
   end
   if #rows == 0 then
      error("no identities in " .. tostring(ids_file))
   end
   counter = (tid or 0) * 7919
end

function request()
   local r = rows[(counter % #rows) + 1]
   counter = counter + 1
   if mode == "config" then
      return wrk.format("GET", "/api/controllers/" .. r.uuid .. "/config", r.headers)
   elseif mode == "ping" then
      return wrk.format("GET", "/api/ping")
   elseif mode == "heartbeat" then
      local trains = "[]"
      if r.train ~= "-" then
         trains = string.format('[{"train_id":"%s","speed":0,"direction":"FORWARD"}]', r.train)
      end
      local body = string.format(
         '{"config_version":%s,"version":"bench","platform":"wrk","trains":%s}', r.version, trains)
      return wrk.format("POST", "/api/controllers/" .. r.uuid .. "/heartbeat", r.headers, body)
   end
   local body = string.format(
      '{"name":"%s","address":"127.0.0.1","uuid":"%s","version":"bench","platform":"wrk"}',
      r.name, r.uuid)
   return wrk.format("POST", "/api/controllers/register", r.headers, body)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"non_2xx":%d,"connect_errors":%d,' ..
      '"read_errors":%d,"write_errors":%d,"timeouts":%d,"mean_us":%.1f,"p50_us":%d,' ..
      '"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max))
end
