-- wrk script: RFC 7592 reads with token rotation. Every read answers with the client's next
-- registration access token and the presented one stops working at once, so each client is read
-- again only with the token its last response carried: a stale token would show as a 401 in the
-- non-2xx count.
--
-- Env: READ_FILE = lines "<path> <registration_access_token>", as ../shared/bench/wrk/readset.py
-- writes them, from a server that rotates on read. Use one wrk thread (-t1): every thread would
-- read the whole file and present the same tokens. Keep more clients in the file than
-- connections, so that a client is always free. wrk may build a request whose response the
-- script never sees (one a run has been seen, at start): that client only drops out of the pool.

local ready, first, last = {}, 1, 0
local prefix

local function push(path, token)
  last = last + 1
  ready[last] = { path, token }
end

function init(args)
  for line in io.lines(os.getenv("READ_FILE")) do
    local path, token = line:match("^(%S+)%s+(%S+)$")
    if path then
      prefix = prefix or path:match("^(.*/)[^/]+$")
      push(path, token)
    end
  end
end

function request()
  if first > last then
    -- No client is free (more connections than clients): read one with a token that is
    -- surely stale, so the run shows it as a failure instead of hiding it.
    return wrk.format("GET", prefix .. "none", { ["Authorization"] = "Bearer stale" })
  end
  local client = ready[first]
  ready[first] = nil
  first = first + 1
  return wrk.format("GET", client[1], { ["Authorization"] = "Bearer " .. client[2] })
end

function response(status, headers, body)
  if status ~= 200 then
    return
  end
  local id = body:match('"client_id":"([^"]+)"')
  local token = body:match('"registration_access_token":"([^"]+)"')
  if id and token then
    push(prefix .. id, token)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
