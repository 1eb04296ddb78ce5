#!/bin/sh
# The smoke test inside the guest (busybox ash: the initramfs guest and a real OpenWrt alike).
# A WAN client and a LAN server live in network namespaces of their own; the guest's root namespace
# is the router and runs tunguard the way its init script says. Every line for the host starts with
# "QEMU-SMOKE:"; the last one is PASS or FAIL <reason>.
#   smoke.sh initramfs   the package's files are in place; start the daemon through procd stand-ins
#   smoke.sh openwrt     opkg install the .ipk files beside this script; procd starts the daemon
MODE=${1:-}
H=$(cd "$(dirname "$0")" && pwd)
CONF=/etc/config/tunguard
WAN_IP=198.51.100.2 WAN_GW=198.51.100.1 LAN_IP=192.0.2.2 LAN_GW=192.0.2.1 PORT=8080
LOG=/tmp/tunguard.log
NET_MJS=$H/smoke-net.mjs

mark() { echo "QEMU-SMOKE: $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
nap() { sleep 0.5 2>/dev/null || sleep 1; }

fail() {
  mark "FAIL $*"
  echo "---- daemon log (last 40 lines)"
  daemon_log | tail -n 40
  echo "---- ip rule / ip link"
  ip rule 2>&1
  ip -br link 2>&1
  cleanup
  exit 1
}

cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null
  if [ "$MODE" = openwrt ]; then
    /etc/init.d/tunguard stop >/dev/null 2>&1
  elif [ -n "$DAEMON" ]; then
    kill "$DAEMON" 2>/dev/null
  fi
}

daemon_log() {
  if [ "$MODE" = openwrt ]; then logread -e tunguard 2>/dev/null; else cat "$LOG" 2>/dev/null; fi
}

# conf_get <section> <option> <default>: a value of the tunguard config.
conf_get() {
  if [ "$MODE" = openwrt ]; then
    uci -q get "tunguard.$1.$2" || echo "$3"
  else
    config_load tunguard
    config_get _conf "$1" "$2" "$3"
    echo "$_conf"
  fi
}

# counter <name>: a counter from status.json (the "counters" object comes before "perWorker").
counter() { grep -o "\"$1\":[0-9.]*" "$STATE/status.json" 2>/dev/null | head -n 1 | cut -d: -f2; }

# --- the package, installed --------------------------------------------------------------------

# What opkg's default_postinst does, minus what needs OpenWrt: uci-defaults that call uci are
# reported, not run (this guest has no uci); the others run and are removed on success, as on
# OpenWrt; the init script is enabled (rc.d link). Starting is the test's own step below.
initramfs_postinst() {
  info=/usr/lib/opkg/info/tunguard
  [ -f "$info.list" ] || fail "no $info.list: the package was not installed"
  for f in $(grep '^/etc/uci-defaults/' "$info.list"); do
    [ -f "$f" ] || continue
    if grep -qw uci "$f"; then
      mark "note: $f not run (it calls uci, which this guest lacks)"
      continue
    fi
    (cd /etc/uci-defaults && sh "$f") || fail "uci-defaults script $f exited $?"
    rm -f "$f"
    mark "ran $f"
  done
  if [ -f "$info.postinst-pkg" ]; then
    if grep -qwE 'uci|ubus' "$info.postinst-pkg"; then
      mark "note: postinst-pkg not run (it calls uci/ubus)"
    else
      sh "$info.postinst-pkg" configure || fail "postinst-pkg exited $?"
      mark "ran postinst-pkg"
    fi
  fi
  start=$(sed -n 's/^START=\([0-9]*\).*/\1/p' /etc/init.d/tunguard)
  [ -n "$start" ] || fail "/etc/init.d/tunguard has no START="
  mkdir -p /etc/rc.d && ln -sf ../init.d/tunguard "/etc/rc.d/S${start}tunguard"
  . "$H/procd-shim.sh"
}

openwrt_install() {
  ls "$H"/pkgs/*.ipk >/dev/null 2>&1 || fail "no .ipk beside the test script"
  opkg install "$H"/pkgs/*.ipk || fail "opkg install $(cd "$H/pkgs" && echo *.ipk) failed"
  opkg status tunguard | grep -q 'install ok installed' || fail "opkg does not list tunguard as installed"
  [ -x /etc/init.d/tunguard ] || fail "the package installed no /etc/init.d/tunguard"
  # The postinst started the daemon with the shipped config (devices this test lacks): stop it.
  /etc/init.d/tunguard stop >/dev/null 2>&1
  # fw4 forwards nothing between devices outside its zones: let the test's devices through.
  if nft list chain inet fw4 forward >/dev/null 2>&1; then
    nft insert rule inet fw4 forward iifname '{ "wan0", "lan0" }' accept ||
      fail "cannot open fw4's forward chain for the test devices"
  fi
}

# --- the network -------------------------------------------------------------------------------

setup_topology() {
  ip link set lo up
  for side in wan lan; do
    ip netns add "$side" || fail "ip netns add $side"
    ip link add "${side}0" type veth peer name eth0 netns "$side" || fail "veth ${side}0 (kmod-veth?)"
    ip -n "$side" link set lo up
    ip -n "$side" link set eth0 up
    ip link set "${side}0" up
  done
  ip addr add "$WAN_GW/24" dev wan0
  ip -n wan addr add "$WAN_IP/24" dev eth0
  ip -n wan route add default via "$WAN_GW"
  ip addr add "$LAN_GW/24" dev lan0
  ip -n lan addr add "$LAN_IP/24" dev eth0
  ip -n lan route add default via "$LAN_GW"
  echo 1 >/proc/sys/net/ipv4/ip_forward
  echo 1 >/proc/sys/net/ipv6/conf/all/forwarding
}

start_server() {
  rm -f /tmp/server.ready
  ip netns exec lan node "$NET_MJS" serve "$LAN_IP" "$PORT" /tmp/server.ready >/tmp/server.log 2>&1 &
  SERVER=$!
  for _ in $(seq 40); do
    [ -f /tmp/server.ready ] && return 0
    kill -0 "$SERVER" 2>/dev/null || fail "the LAN echo server died: $(cat /tmp/server.log)"
    nap
  done
  fail "the LAN echo server did not listen within 20 s"
}

# probe_connect <bytes> <what>: a TCP echo exchange from the WAN namespace to the LAN server.
probe_connect() {
  out=$(ip netns exec wan node "$NET_MJS" connect "$LAN_IP" "$PORT" "$1" 2>&1) || fail "$2: $out"
  mark "$2: $out"
}

# flow_offload: OpenWrt's fw4 with flow offloading (its own ruleset for these devices, offload.nft)
# while the daemon runs. A flow the LAN opens bypasses the TUN once seen and the kernel offloads it
# ([OFFLOAD] in conntrack); a WAN-opened connection the SYN proxy translates stays bit-exact whether
# the kernel offloads its (client-side) conntrack entry or not: the LAN device's programs still hand
# its packets to the proxy.
flow_offload() {
  [ -f "$H/offload.nft" ] || fail "no offload.nft beside the test script"
  nft -f "$H/offload.nft" || fail "nft -f offload.nft (fw4's ruleset with a flowtable) failed"
  rm -f /tmp/wserver.ready
  ip netns exec wan node "$NET_MJS" serve "$WAN_IP" 7001 /tmp/wserver.ready >/tmp/wserver.log 2>&1 &
  WSERVER=$!
  for _ in $(seq 40); do
    [ -f /tmp/wserver.ready ] && break
    nap
  done
  [ -f /tmp/wserver.ready ] || fail "the WAN echo server did not listen: $(cat /tmp/wserver.log)"
  ip netns exec lan node "$NET_MJS" hold "$WAN_IP" 7001 4 >/tmp/hold-lan.log 2>&1 &
  HL=$!
  ip netns exec wan node "$NET_MJS" hold "$LAN_IP" "$PORT" 4 >/tmp/hold-wan.log 2>&1 &
  HW=$!
  # Node starts slowly in an emulated guest under load: wait (within the 4 s hold) until the LAN-opened
  # flow is offloaded, or the hold is over, instead of reading conntrack once after a fixed sleep.
  for _ in $(seq 12); do
    nap
    lanflow=$(grep ' dport=7001 ' /proc/net/nf_conntrack | head -n 1)
    wanflow=$(grep "src=$WAN_IP dst=$LAN_IP .* dport=$PORT " /proc/net/nf_conntrack | head -n 1)
    case $lanflow in *OFFLOAD*) break ;; esac
    kill -0 "$HL" 2>/dev/null || break
  done
  wait "$HL" || fail "LAN-opened exchange under fw4 flow offloading: $(cat /tmp/hold-lan.log)"
  wait "$HW" || fail "proxied exchange under fw4 flow offloading: $(cat /tmp/hold-wan.log)"
  case $lanflow in *OFFLOAD*) ;; *) fail "the LAN-opened flow is not offloaded: '$lanflow'" ;; esac
  case $wanflow in *OFFLOAD*) wanstate=offloaded ;; *) wanstate="not offloaded" ;; esac
  mark "flow offload: LAN-opened $(cat /tmp/hold-lan.log), [OFFLOAD]; proxied $(cat /tmp/hold-wan.log), $wanstate"
  kill "$WSERVER" 2>/dev/null
  nft delete table inet fw4 || fail "nft delete table inet fw4"
}

# --- the daemon --------------------------------------------------------------------------------

configure() {
  [ -f "$CONF" ] || fail "the package installed no $CONF"
  # Tiny tier thresholds: a few connections lift the tier, so the kernel fast path answers them.
  if [ "$MODE" = openwrt ]; then
    uci set tunguard.main.wan_device=wan0 || fail "uci cannot edit $CONF"
    uci -q delete tunguard.main.lan_device
    uci add_list tunguard.main.lan_device=lan0 && uci commit tunguard || fail "uci cannot edit $CONF"
    uci set tunguard.syn.moderate_threshold=1 && uci set tunguard.syn.risky_threshold=2 &&
      uci commit tunguard || fail "uci cannot edit $CONF"
  else
    sed -i -e "s/^\([[:space:]]*option[[:space:]][[:space:]]*wan_device[[:space:]][[:space:]]*\).*/\1'wan0'/" \
      -e "s/^\([[:space:]]*list[[:space:]][[:space:]]*lan_device[[:space:]][[:space:]]*\).*/\1'lan0'/" \
      -e "s/^\([[:space:]]*option[[:space:]][[:space:]]*moderate_threshold[[:space:]][[:space:]]*\).*/\1'1'/" \
      -e "s/^\([[:space:]]*option[[:space:]][[:space:]]*risky_threshold[[:space:]][[:space:]]*\).*/\1'2'/" "$CONF"
  fi
  grep -Eq "^[[:space:]]*option[[:space:]]+wan_device[[:space:]]+'?wan0'?" "$CONF" &&
    grep -Eq "^[[:space:]]*list[[:space:]]+lan_device[[:space:]]+'?lan0'?" "$CONF" ||
    fail "$CONF names no wan_device/lan_device to point at the test's devices"
  STATE=$(conf_get main state_dir /var/run/tunguard)
  TUN=$(conf_get main tun_name tg0)
  rm -f "$STATE/status.json" "$STATE/api.json"
}

# The init script's command, run the way procd would run it (initramfs mode).
start_from_init_script() {
  (
    set --
    . /etc/init.d/tunguard
    command -v start_service >/dev/null 2>&1 || exit 3
    start_service
    [ "$PROCD_INSTANCES" -ge 1 ] && [ -n "$PROCD_COMMAND" ] || exit 4
    printf '%s\n' "$PROCD_COMMAND" >/tmp/procd.command
    printf '%s\n' "$PROCD_ENV" >/tmp/procd.env
  )
  case $? in
    0) ;;
    3) fail "/etc/init.d/tunguard defines no start_service" ;;
    4) fail "/etc/init.d/tunguard's start_service opened no procd instance with a command" ;;
    *) fail "sourcing /etc/init.d/tunguard failed" ;;
  esac
  grep -q '^USE_PROCD=1' /etc/init.d/tunguard || fail "/etc/init.d/tunguard does not set USE_PROCD=1"
  mark "init script command:$(cat /tmp/procd.command)"
  eval "set -- $(cat /tmp/procd.command)"
  envs=$(cat /tmp/procd.env)
  (
    [ -z "$envs" ] || eval "export $envs"
    exec "$@"
  ) >"$LOG" 2>&1 &
  DAEMON=$!
}

# tcx_hooks <dev>: "<ingress> <egress>", the programs the kernel runs on the device's TCX hooks
# (BPF_PROG_QUERY through the package's own addon).
tcx_hooks() {
  node -e 'const a = require("/usr/lib/tunguard/tunguard_tun.node");
    const i = Number(require("fs").readFileSync(`/sys/class/net/${process.argv[1]}/ifindex`, "utf8"));
    console.log(`${a.tcxCount(i, false)} ${a.tcxCount(i, true)}`);' "$1"
}

wait_ready() {
  t0=$(uptime_s)
  for _ in $(seq 180); do
    [ -f "$STATE/status.json" ] && [ -f "$STATE/api.json" ] && break
    if [ "$MODE" != openwrt ] && ! kill -0 "$DAEMON" 2>/dev/null; then
      wait "$DAEMON"
      fail "the daemon exited with status $? before it was ready"
    fi
    nap
  done
  [ -f "$STATE/status.json" ] && [ -f "$STATE/api.json" ] || fail "no status.json and api.json in $STATE after 90 s"
  PID=$(grep -o '"pid":[0-9]*' "$STATE/status.json" | head -n 1 | cut -d: -f2)
  [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null || fail "status.json names no live daemon pid"
  ip link show "$TUN" >/dev/null 2>&1 || fail "the daemon is up but $TUN is not"
  hooks=$(tcx_hooks lan0)
  # Ingress: the steering. Egress: the SYN fast path (bpf/synproxy.c, the package's bpfel object on
  # this little-endian guest) in front of the steering.
  [ "$hooks" = "1 2" ] || fail "the daemon is up but lan0's TCX hooks run '$hooks' programs, not '1 2' (steering + SYN fast path)"
  mark "daemon ready in $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }') s (pid $PID)"
}

stop_daemon() {
  if [ "$MODE" = openwrt ]; then
    /etc/init.d/tunguard stop || fail "/etc/init.d/tunguard stop failed"
  else
    kill -TERM "$DAEMON"
  fi
  for _ in $(seq 30); do
    kill -0 "$PID" 2>/dev/null || break
    nap
  done
  kill -0 "$PID" 2>/dev/null && fail "the daemon did not stop within 15 s of SIGTERM"
  if [ "$MODE" != openwrt ]; then
    wait "$DAEMON"
    rc=$?
    DAEMON=
    [ "$rc" = 0 ] || fail "the daemon exited with status $rc on SIGTERM"
  fi
  hooks=$(tcx_hooks lan0)
  [ "$hooks" = "0 0" ] || fail "steering programs are left on lan0 after the stop ('$hooks')"
  ip link show "$TUN" >/dev/null 2>&1 && fail "$TUN is left after the stop"
  mark "daemon stopped cleanly (steering removed, $TUN gone)"
}

# --- the test ----------------------------------------------------------------------------------

case $MODE in
  initramfs | openwrt) ;;
  *)
    mark "FAIL usage: smoke.sh initramfs|openwrt"
    exit 2
    ;;
esac
mark "smoke test ($MODE) at $(uptime_s) s: $(uname -m), kernel $(uname -r)"
command -v node >/dev/null || fail "node is missing from the guest"
# A busybox shell may run its own applets before PATH (a standalone shell does), and busybox's ip
# has no netns: name iproute2's (ip-full's) binary. The daemon itself finds it through PATH.
IP_BIN=
for d in /usr/sbin /sbin /usr/bin /bin; do
  [ -x "$d/ip" ] && ! readlink "$d/ip" | grep -q busybox && IP_BIN=$d/ip && break
done
[ -n "$IP_BIN" ] || fail "no iproute2 ip in the guest (busybox's has no netns; ip-full on OpenWrt)"
ip() { "$IP_BIN" "$@"; }
command -v nft >/dev/null || mark "note: no nft in the guest (the daemon runs without the SYN police)"
[ -c /dev/net/tun ] || fail "/dev/net/tun is missing (kmod-tun?)"
mark "node $(node --version)"

if [ "$MODE" = openwrt ]; then openwrt_install; else initramfs_postinst; fi
setup_topology
start_server
# Control: without the daemon the kernel forwards; a failure later is then tunguard's.
probe_connect 65536 "kernel path without the daemon"
configure
if [ "$MODE" = openwrt ]; then
  /etc/init.d/tunguard start || fail "/etc/init.d/tunguard start failed"
else
  start_from_init_script
fi
wait_ready
est0=$(counter synproxy_conn_established)
[ -n "$est0" ] || fail "status.json has no synproxy_conn_established counter"
probe_connect 262144 "through tunguard"
grep -q "peer $WAN_IP:" /tmp/server.log || fail "the LAN server never saw the WAN client's own address"
out=$(node "$NET_MJS" api "$STATE" "${est0%.*}" 2>&1) || fail "$out"
mark "$out"
for _ in $(seq 10); do
  est=$(counter synproxy_conn_established)
  [ "${est%.*}" -gt "${est0%.*}" ] 2>/dev/null && break
  nap
done
[ "${est%.*}" -gt "${est0%.*}" ] 2>/dev/null || fail "status.json: synproxy_conn_established stayed at $est"
mark "status.json: synproxy_conn_established ${est0%.*} -> ${est%.*}, cookie_valid $(counter synproxy_cookie_valid)"
# Past the tiny thresholds the kernel fast path answers the SYNs; the proxy still checks the cookies.
for i in 1 2 3 4; do probe_connect 65536 "through tunguard, tier raised ($i)"; done
for _ in $(seq 10); do
  fast=$(counter fast_syn_answered)
  [ "${fast%.*}" -gt 0 ] 2>/dev/null && break
  nap
done
[ "${fast%.*}" -gt 0 ] 2>/dev/null || fail "status.json: fast_syn_answered stayed at '$fast' (tier $(counter gauge_tier))"
mark "status.json: the SYN fast path answered ${fast%.*} SYN(s), cookie_valid $(counter synproxy_cookie_valid)"
[ "$MODE" = openwrt ] || flow_offload
# Idle RSS: after the exchange, once the API requests and the status writes have settled.
sleep 5
mark "RSS $(sed -n 's/^VmRSS:[[:space:]]*//p' "/proc/$PID/status") (idle daemon; peak $(sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$PID/status"))"
stop_daemon
probe_connect 65536 "fail-open after the stop"
kill "$SERVER" 2>/dev/null
echo "---- daemon log"
daemon_log | tail -n 20
mark "PASS at $(uptime_s) s"
