-- tunguard's collector for prometheus-node-exporter-lua (OpenWrt's exporter): installed as
-- /usr/lib/lua/prometheus-collectors/tunguard.lua by the package prometheus-node-exporter-lua-tunguard.
--
-- It reads <state_dir>/status.json, the file the daemon rewrites for LuCI when something changed
-- (within status_interval, 1 s) and every 30 s regardless (its uptime may be that old), and never talks to the daemon: a scrape costs one small file read, whatever the daemon is doing.
-- state_dir: $TUNGUARD_STATE_DIR, else uci's tunguard.main.state_dir, else /var/run/tunguard (the
-- order LuCI's rpcd plugin uses). Names and labels follow the daemon's own /metrics
-- (src/api/metrics.ts), so one dashboard and one set of alert rules serve either source.
--
-- The exporter gives collectors the globals metric(name, type) → outputter(labels, value),
-- get_contents(file) and output(line); metric() writes the "# TYPE" line, and a HELP line is written
-- here first so `promtool check metrics` finds nothing to lint.

local json = require "cjson"

local DEFAULT_STATE_DIR = "/var/run/tunguard"

local function state_dir()
  local dir = os.getenv("TUNGUARD_STATE_DIR")
  if dir == nil or dir == "" then
    local ok, uci = pcall(require, "uci")
    if ok then dir = uci.cursor():get("tunguard", "main", "state_dir") end
  end
  if dir == nil or dir == "" then dir = DEFAULT_STATE_DIR end
  return dir
end

-- A family: its HELP line, then the exporter's metric() (the TYPE line); returns the outputter.
local function family(name, mtype, help)
  output("# HELP " .. name .. " " .. help)
  return metric(name, mtype)
end

-- Integral values as integers (exact up to 2^53 on 32-bit routers too: "%d" would go through a C
-- long there); the rest in the shortest of 15 or 17 digits that reads back as the same double.
local function num(v)
  if v ~= v then return "NaN" end
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%.0f", v) end
  local short = string.format("%.15g", v)
  if tonumber(short) == v then return short end
  return string.format("%.17g", v)
end

-- A label value as the text format wants it (the exporter's print_metric writes labels verbatim).
local function label(v)
  return (tostring(v):gsub("\\", "\\\\"):gsub('"', '\\"'):gsub("\n", "\\n"))
end

-- The daemon's metric-name-safe form of a counter name (metricName in src/api/metrics.ts).
local function metric_name(s)
  s = s:gsub("[^%w_]", "_")
  if s:match("^%d") then s = "_" .. s end
  return s
end

local function is_number(v) return type(v) == "number" end

local function process_alive(pid)
  local f = io.open("/proc/" .. num(pid) .. "/stat", "r")
  if f == nil then return false end
  f:close()
  return true
end

local function scrape()
  local file = state_dir() .. "/status.json"
  local text = get_contents(file)
  local up = family("tunguard_up", "gauge",
    "Whether the daemon runs: 1 when its status.json is there and names a live process.")
  if text == "" then
    up(nil, 0)
    return
  end
  local ok, s = pcall(json.decode, text)
  if not ok or type(s) ~= "table" or not is_number(s.pid) then
    -- A failed scrape (node_scrape_collector_success 0), not a stopped daemon: the daemon writes
    -- the file atomically, so a damaged one is worth an alert of its own.
    error("tunguard: " .. file .. " is not a status file: " .. tostring(ok and "no pid" or s))
  end
  if not process_alive(s.pid) then
    up(nil, 0)
    return
  end
  up(nil, 1)

  if type(s.version) == "string" then
    family("tunguard_build_info", "gauge", "The version, as a label.")({ version = label(s.version) }, 1)
  end
  if is_number(s.uptimeSeconds) then
    family("tunguard_uptime_seconds", "gauge", "Seconds since the dataplane started.")(nil, num(s.uptimeSeconds))
  end

  -- Counters per worker, as /metrics has them; the summed ones when no worker is listed.
  local counters = type(s.counters) == "table" and s.counters or {}
  local workers = type(s.perWorker) == "table" and s.perWorker or {}
  local drops = type(s.drops) == "table" and s.drops or {}

  -- Every drop is one sample of one family, its cause in the reason label (dropReason in
  -- src/api/metric-help.ts: the counter's name without its drop_ prefix).
  local dropNames = {}
  for name in pairs(drops) do dropNames[#dropNames + 1] = name end
  table.sort(dropNames)
  if #dropNames > 0 then
    local dropped = family("tunguard_dataplane_dropped_packets_total", "counter",
      "Packets the dataplane dropped, by reason, per worker.")
    for _, name in ipairs(dropNames) do
      local reason = name:sub(1, 5) == "drop_" and name:sub(6) or name
      for i, w in ipairs(workers) do
        dropped({ reason = label(reason), worker = i - 1 }, num(is_number(w[name]) and w[name] or 0))
      end
      if #workers == 0 and is_number(drops[name]) then dropped({ reason = label(reason) }, num(drops[name])) end
    end
  end

  local names = {}
  for name in pairs(counters) do
    if drops[name] == nil then names[#names + 1] = name end
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local gauge = name:sub(1, 6) == "gauge_"
    local m = gauge and ("tunguard_dataplane_" .. metric_name(name:sub(7)))
      or ("tunguard_dataplane_" .. metric_name(name) .. "_total")
    local kind = gauge and "gauge" or "counter"
    local out = family(m, kind, "Dataplane " .. kind .. " " .. name .. ", per worker.")
    for i, w in ipairs(workers) do
      out({ worker = i - 1 }, num(is_number(w[name]) and w[name] or 0))
    end
    if #workers == 0 and is_number(counters[name]) then out(nil, num(counters[name])) end
  end

  -- null (cjson.null) while the defense stage has not reported: no sample, as /metrics.
  if type(s.tier) == "string" then
    local tier = family("tunguard_tier", "gauge", "The current risk tier (1 for the tier in force).")
    for _, t in ipairs({ "normal", "moderate", "risky" }) do
      tier({ tier = t }, s.tier == t and 1 or 0)
    end
  end
  if is_number(s.halfOpen) then
    family("tunguard_half_open", "gauge", "Unfinished TCP handshakes now.")(nil, num(s.halfOpen))
  end
  -- Absent while the remediation service is off, as in /metrics.
  if type(s.agents) == "table" and is_number(s.agents.paired) and is_number(s.agents.unreachable) then
    family("tunguard_agents_paired", "gauge", "Host agents paired with this router.")(nil, num(s.agents.paired))
    family("tunguard_agents_unreachable", "gauge",
      "Paired agents the last contact (a dispatch or the agent_check ping) did not reach.")(nil,
      num(s.agents.unreachable))
  end
  if type(s.attackers) == "table" and is_number(s.attackers.total) then
    family("tunguard_attackers", "gauge", "Sources currently marked aggressive.")(nil, num(s.attackers.total))
  end
  if type(s.api) == "table" then
    local listening = type(s.api.listening) == "table" and #s.api.listening or 0
    local api_up = (listening > 0 and s.api.error == nil) and 1 or 0
    family("tunguard_api_up", "gauge",
      "Whether the daemon's API listens (0: not configured, or it failed to start).")(nil, api_up)
  end
end

return { scrape = scrape }
