-- wrk script shared by every run, so the load generator does the same
-- work for every gateway and mix. Its one argument is N: every Nth
-- request goes to /err, the others to /ok (0: none, 1: all, 10: the
-- 10th, 20th, ... so exactly 10%). The choice is a counter, not a
-- random draw, so each run has the same mix.
--
-- done() prints one tab-separated line that bench/load parses:
-- RESULT requests/s p50_us p99_us requests non2xx socket_errors

local every = 0
local n = 0
local body = "grant_type=authorization_code&code=demo-code&client_id=demo-client&client_secret=demo-secret&redirect_uri=https%3A%2F%2Flocalhost%2Fcallback"
local ok, err

function init(args)
  every = tonumber(args[1] or "0")
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Accept"] = "application/json",
  }
  ok = wrk.format("POST", "/ok", headers, body)
  err = wrk.format("POST", "/err", headers, body)
end

function request()
  n = n + 1
  if every > 0 and n % every == 0 then
    return err
  end
  return ok
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT\t%.1f\t%d\t%d\t%d\t%d\t%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
