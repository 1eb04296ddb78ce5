// The /etc/config/tunguard an OpenWrt package ships: every setting at its default, with comments.
// Tests hold it equal to defaultConfig(); change both together.

export const DEFAULT_UCI = `# /etc/config/tunguard — tunguard, a SYN-proxying security interposer.
# Every option below is at its built-in default; delete a line and nothing changes.
# Booleans: 1/0, yes/no, on/off, true/false, enabled/disabled. Apply: /etc/init.d/tunguard reload

config tunguard 'main'
\toption enabled '1'
\t# Forwarded traffic of these devices is steered through the TUN (check yours with: ip link).
\toption wan_device 'wan'
\tlist lan_device 'br-lan'
\toption tun_name 'tg0'
\t# One TUN queue and dataplane worker per queue (1..16).
\toption queues '1'
\t# The policy-routing table older versions steered through (leftover rules are removed at start).
\toption route_table '4747'
\toption ipv6 '1'
\toption offload '1'
\t# Runtime state on tmpfs (connection store, status.json); durable state on flash.
\toption state_dir '/var/run/tunguard'
\toption durable_dir '/etc/tunguard'
\t# error, warn, info or debug
\toption log_level 'info'
\t# Shortest seconds between status.json writes (written on change, and at least every 30 s); 0 = never.
\toption status_interval '1'
\t# The durable store lives in state_dir (RAM); a compacted snapshot of it goes to durable_dir
\t# every commit_interval seconds (skipped when nothing changed) and at stop. 0 = only at stop.
\toption commit_interval '3600'
\t# Follow netifd's uplinks (ubus) at run time: a travel router's WAN changes (wwan, usb0, wwan0…).
\toption wan_follow '0'
\t# procd's seccomp filter (/etc/seccomp/tunguard.json, the system calls a measured lab run made);
\t# off by default: a call the measurement missed would kill the daemon. Applied on restart.
\toption seccomp '0'
\t# Take the LAN devices from netifd's lan_network interfaces at run time (lan_device: the fallback);
\t# a bridge re-created by a network reload is steered again without a restart.
\toption lan_follow '0'
\tlist lan_network 'lan'
\t# Sources never subject to the defenses (IPv4/IPv6 prefixes), e.g. an admin host:
\t# list allow_prefix '192.168.1.10/32'

# New SYNs counted over a sliding window set the risk tier: up to moderate_threshold is normal,
# up to risky_threshold is moderate (only SYNs of unrecorded 4-tuples are taken), above is risky.
config defense 'syn'
\toption window_seconds '3'
\toption moderate_threshold '100'
\toption risky_threshold '300'
\t# risky tier: 'cookie' answers new SYNs with stateless cookies, 'drop' drops them.
\toption risky_action 'cookie'
\t# A source with more unfinished handshakes than this is aggressive: its SYNs are dropped
\t# for aggressive_hold_seconds.
\toption max_unfinished_per_source '5'
\toption aggressive_hold_seconds '60'
\t# Entries in the table of recorded SYN 4-tuples.
\toption syn_cache_size '65536'
\t# A proxied connection idle this long is forgotten.
\toption connection_idle_seconds '7440'
\t# Proxy connections opened from the WAN toward the LAN (inbound) and from the LAN out.
\toption proxy_inbound '1'
\toption proxy_outbound '0'
\t# Answer SYN floods in the kernel (eBPF) in the moderate and risky tiers: 'auto' where the
\t# kernel allows it (else the proxy answers them, with a warning), 'on' or fail, 'off'.
\toption fast_path 'auto'
\t# Proxy WAN connections to the router's own services (SSH, LuCI, a VPN on its WAN address) too.
\toption protect_router '1'

# Token buckets in packets per second, global and per source (per_source_rate 0: no per-source
# limit); the excess is dropped.
config ratelimit 'icmp'
\toption enabled '1'
\toption rate '100'
\toption burst '100'
\toption per_source_rate '50'
\toption per_source_burst '50'

config ratelimit 'udp'
\toption enabled '1'
\toption rate '200'
\toption burst '200'
\toption per_source_rate '100'
\toption per_source_burst '100'
\t# Destination ports not counted; option exempt_port '' exempts none.
\tlist exempt_port '53'

# More allowlisted prefixes, one section per group:
# config allow 'admin'
# \tlist prefix '192.168.1.10/32'
# \tlist prefix 'fd00::/64'
# \toption comment 'admin workstation'

config api 'api'
\t# address:port, IPv6 in brackets; never a WAN address. No listen entry: no API.
\tlist listen '127.0.0.1:7447'
\toption token_file '/etc/tunguard/api.token'
\toption cors '0'

# Periodic detection: every interval seconds the protected hosts are scanned (nmap -sV -O, needs
# opkg install nmap), matched against the remediation rules, and remedies queued for their agents.
config detect 'detect'
\toption enabled '0'
\t# Hosts to protect: IPv4/IPv6 address, MAC, or host name.
\t# list protected_host '192.168.1.20'
\t# Seconds between rounds (60..604800); the first runs shortly after the start.
\toption interval '3600'
\toption scan '1'
\t# Scan every host on the LAN's IPv4 prefixes (and check them all), not only the protected ones.
\toption scan_lan '0'
\t# A scan is stopped after scan_timeout seconds; nmap sends at most scan_max_rate packets/s.
\toption scan_timeout '600'
\toption scan_max_rate '100'
\t# Ports to scan, e.g. '22,80,443,8000-8100'; empty: nmap's top 1000.
\toption scan_ports ''
\t# Rule sets: 'ordered' (environment, then threat, then combined), 'first-hit' or 'simultaneous'.
\toption lookup 'ordered'
\t# What may trigger a remedy: 'confirm' (facts a scan, the host's agent or the admin reported;
\t# traffic any LAN client can forge never does alone) or 'any' (passive facts too).
\toption remedy_evidence 'confirm'
\t# Seconds between pings of each paired agent (the status' and /metrics' unreachable count);
\t# 0: only dispatches tell.
\toption agent_check '300'
`;
