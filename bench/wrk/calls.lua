-- bench/call_control.py's wrk script: one connection per thread (wrk -tN -cN), so each
-- thread runs its own sequence of requests in order, and a call's end follows its own
-- authorize. The Python side writes a config file (a Lua chunk returning a table) and names
-- it in CC_BENCH_CONFIG:
--   steps   = {"authorize", "end"} | {"authorize", "update", "end"} | {"post"} | {"get"}
--   tenants = {{tid = "...", key = "..."}, ...}  (thread i works for tenant i mod #tenants)
--   tag, user, path, charge
-- The response hook checks every answer; done() prints one line "CCBENCH {json}".
local cfg = dofile(os.getenv("CC_BENCH_CONFIG"))
local counter = 0
local threads = {}

function setup(thread)
  thread:set("thread_no", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local AUTHORIZE = '{"call_id":"%s","call_type":"user_out","user":"%s",'
  .. '"caller":"+12065550100","callee":"+447400123456"}'

function init(args)
  local n = #cfg.tenants
  headers = {["Content-Type"] = "application/json"}
  if n > 0 then
    tenant_no = thread_no % n + 1
    tenant = cfg.tenants[tenant_no]
    headers["Authorization"] = "Bearer " .. tenant.key
  else
    tenant_no = 0
  end
  steps = cfg.steps
  seq, step = 1, 1
  call_id = cfg.tag .. "-" .. thread_no .. "-" .. seq
  authorized, denied, updated, ended, ok, bad = 0, 0, 0, 0, 0, 0
  first_bad = ""
end

-- The step advances in response(), not here: should wrk ask for a request twice before an
-- answer, it sends the same one again (every call-control step is idempotent, CALL-9).
local function next_call()
  seq = seq + 1
  step = 1
  call_id = cfg.tag .. "-" .. thread_no .. "-" .. seq
end

function request()
  local kind = steps[step]
  if kind == "authorize" then
    return wrk.format("POST", "/api/v1/tenants/" .. tenant.tid .. "/calls/authorize",
                      headers, string.format(AUTHORIZE, call_id, cfg.user))
  elseif kind == "update" then
    return wrk.format("POST", "/api/v1/tenants/" .. tenant.tid .. "/calls/" .. call_id
                      .. "/update", headers, '{"used_seconds":30}')
  elseif kind == "end" then
    return wrk.format("POST", "/api/v1/tenants/" .. tenant.tid .. "/calls/" .. call_id
                      .. "/end", headers, '{"duration_seconds":61}')
  elseif kind == "post" then
    return wrk.format("POST", cfg.path, headers,
                      string.format(AUTHORIZE, cfg.tag .. "-" .. seq, cfg.user))
  end
  return wrk.format("GET", cfg.path, headers)
end

local function refuse(status, body)
  bad = bad + 1
  if first_bad == "" then
    first_bad = status .. " " .. string.sub(string.gsub(body or "", '[%c"\\]', " "), 1, 200)
  end
  next_call() -- start over with a new call
end

function response(status, hdrs, body)
  local kind = steps[step]
  if status < 200 or status > 299 then
    return refuse(status, body)
  end
  if kind == "authorize" then
    if string.find(body, '"decision":"allow"', 1, true) then
      authorized = authorized + 1
    else
      denied = denied + 1
      return next_call()
    end
  elseif kind == "update" then
    if not string.find(body, '"status":"active"', 1, true) then
      return refuse(status, body)
    end
    updated = updated + 1
  elseif kind == "end" then
    if not string.find(body, '"charge":"' .. cfg.charge .. '"', 1, true) then
      return refuse(status, body)
    end
    ended = ended + 1
  else
    ok = ok + 1
  end
  if step == #steps then
    next_call()
  else
    step = step + 1
  end
end

function done(summary, latency, requests)
  local rows = {}
  for _, t in ipairs(threads) do
    table.insert(rows, string.format(
      '{"thread":%d,"tenant":%d,"authorized":%d,"denied":%d,"updated":%d,"ended":%d,'
      .. '"ok":%d,"bad":%d,"first_bad":"%s"}',
      t:get("thread_no"), t:get("tenant_no"), t:get("authorized"), t:get("denied"),
      t:get("updated"), t:get("ended"), t:get("ok"), t:get("bad"), t:get("first_bad")))
  end
  local e = summary.errors
  io.write(string.format(
    'CCBENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,'
    .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"threads":[%s]}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout, table.concat(rows, ",")))
end
