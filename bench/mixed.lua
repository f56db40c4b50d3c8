-- Mixed reads for wrk: the paths come after `--`; a path starting with "hx:"
-- is requested as HTMX (HX-Request: true). Counts 4xx and 5xx separately.
--   wrk -s bench/mixed.lua http://127.0.0.1:PORT -- / /questions/a/ hx:/questions/a/trajectory/

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for _, arg in ipairs(args) do
    if arg:sub(1, 3) == "hx:" then
      table.insert(paths, wrk.format("GET", arg:sub(4), { ["HX-Request"] = "true" }))
    else
      table.insert(paths, wrk.format("GET", arg))
    end
  end
  counter = math.random(#paths)
  s4, s5 = 0, 0
end

function request()
  counter = counter % #paths + 1
  return paths[counter]
end

function response(status, headers, body)
  if status >= 500 then
    s5 = s5 + 1
  elseif status >= 400 then
    s4 = s4 + 1
  end
end

function done(summary, latency, requests)
  local t4, t5 = 0, 0
  for _, thread in ipairs(threads) do
    t4 = t4 + thread:get("s4")
    t5 = t5 + thread:get("s5")
  end
  io.write(string.format("STATUS4XX %d\nSTATUS5XX %d\n", t4, t5))
end
