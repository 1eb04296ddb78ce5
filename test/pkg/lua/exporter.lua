-- A stand-in for prometheus-node-exporter-lua's main script (openwrt/packages,
-- utils/prometheus-node-exporter-lua/files/usr/bin/prometheus-node-exporter-lua), to run a collector
-- under the real Lua interpreter on Debian: the same globals a collector gets — get_contents,
-- space_split, metric, print_metric, output — with the same behaviour (metric() writes only the
-- "# TYPE" line; print_metric skips a nil value and writes labels verbatim), and the same run of one
-- collector as its command-line mode: pcall(scrape), then node_scrape_collector_duration_seconds and
-- node_scrape_collector_success. What differs: the collector is loaded from a path given here instead
-- of require('prometheus-collectors.<name>') under /usr/lib/lua, and the duration comes from os.clock
-- (the exporter uses luasocket's gettime; luasocket is not needed for anything else).
--
--   lua5.1 exporter.lua <collector.lua> <name>
function space_split(s)
  local elements = {}
  for element in s:gmatch("%S+") do
    table.insert(elements, element)
  end
  return elements
end

function get_contents(filename)
  local f = io.open(filename, "rb")
  local contents = ""
  if f then
    contents = f:read "*a"
    f:close()
  end
  return contents
end

function print_metric(metric, labels, value)
  local label_string = ""
  if type(value) == "nil" then
    return
  end
  if labels then
    for label, value in pairs(labels) do
      label_string = label_string .. label .. '="' .. value .. '",'
    end
    label_string = "{" .. string.sub(label_string, 1, -2) .. "}"
  end
  output(string.format("%s%s %s", metric, label_string, value))
end

function metric(name, mtype, labels, value)
  output("# TYPE " .. name .. " " .. mtype)
  local outputter = function(labels, value)
    print_metric(name, labels, value)
  end
  if value then
    outputter(labels, value)
  end
  return outputter
end

output = print

local path, name = arg[1], arg[2]
local collector = dofile(path)
local start = os.clock()
local success = 1
local status, err = pcall(collector.scrape)
if not status then
  success = 0
  io.stderr:write(err .. '\n')
end
local labels = { collector = name }
metric("node_scrape_collector_duration_seconds", "gauge")(labels, os.clock() - start)
metric("node_scrape_collector_success", "gauge")(labels, success)
