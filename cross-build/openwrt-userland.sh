#!/bin/bash
# Runs the package's router-side pieces against OpenWrt's real userland: the uci-defaults with the
# real `uci`, and the rpcd plugin and ACL file under the real `rpcd` through `ubus` (method
# signatures, a call, login with the ACL group, what the session may and may not do, rpcd's rc
# object over the init script). Then the init script under the real procd and ujail in mount, PID
# and network namespaces: what /proc shows of the daemon and of nmap, respawn, reload, stop, the
# seccomp switch, and two negative controls. Not run by CI. It only runs programs already built:
# the root is built outside this repository from OpenWrt's sources, and no recipe for that is kept
# here (the fetched code and whatever builds it stay out of this repository).
#
#   UL_ROOT=/path/to/root bash cross-build/openwrt-userland.sh   (UL_MEASURE=1: also strace the system calls)
#
# UL_ROOT (prefix = UL_ROOT, not /usr): OpenWrt's libubox (jshn), uci, ubus (ubusd), ucode, rpcd with
# its file and ucode plugins, udebug, jsonpath (as jsonfilter; a commit before e5a07f4, which reads
# stdin only with -i and so breaks procd_running's pipe), and procd with ujail, utrace and the
# seccomp preload library; plus procd's shell side from openwrt/openwrt at OpenWrt's paths:
# etc/rc.common, lib/functions.sh, lib/functions/{service,procd}.sh, lib/config/uci.sh.
# UL_DEPS: another root holding libubox, uci and ubus, if they are not in UL_ROOT.
# rpcd takes its plugin and ACL directories from its install prefix, so it must have been installed
# under UL_ROOT: the app's plugin and ACL file are put in UL_ROOT/libexec/rpcd and
# UL_ROOT/share/rpcd/acl.d. /etc is a copy, in a private mount namespace, holding
# /etc/config/{rpcd,tunguard,network} and /etc/init.d/tunguard. Scratch files go under W.
# Needs: root (unshare), busybox, openssl, strace (UL_MEASURE), nmap, capsh, node and `npm run build`.
set -euo pipefail
P=${UL_ROOT:?set UL_ROOT to a root holding the OpenWrt userland, built outside this repository}
DEPS=${UL_DEPS:-$P}
W=${W:-/var/tmp/tunguard-userland}
HERE=$(cd "$(dirname "$0")/.." && pwd)
export LD_LIBRARY_PATH="$DEPS/lib:$P/lib"

UCI=$DEPS/bin/uci UBUS=$DEPS/bin/ubus UBUSD=$DEPS/sbin/ubusd RPCD=$P/sbin/rpcd
# Everything the run uses from the root, checked before anything starts.
missing=()
for f in "$UCI" "$UBUS" "$UBUSD" "$DEPS/bin/jshn" "$DEPS/share/libubox/jshn.sh" "$RPCD" "$P/sbin/procd" \
	"$P/sbin/ujail" "$P/sbin/utrace" "$P/bin/jsonpath" "$P/lib/libudebug.so" "$P/lib/libsetlbf.so" \
	"$P/lib/libpreload-seccomp.so" "$P/etc/rc.common" "$P/lib/functions.sh" "$P/lib/functions/service.sh" \
	"$P/lib/functions/procd.sh" "$P/lib/config/uci.sh"; do
	[ -e "$f" ] || missing+=("$f")
done
for t in busybox openssl nmap capsh node; do command -v "$t" >/dev/null || missing+=("the command $t"); done
[ -f "$HERE/dist/src/config/defaults.js" ] || missing+=("$HERE/dist (run npm run build)")
if [ ${#missing[@]} -gt 0 ]; then
	echo "openwrt-userland: UL_ROOT=$P${UL_DEPS:+ UL_DEPS=$DEPS} lacks what the run needs:" >&2
	printf '  missing %s\n' "${missing[@]}" >&2
	exit 1
fi

# The package's files where rpcd looks for them.
mkdir -p "$P/libexec/rpcd" "$P/share/rpcd/acl.d"
install -m 0755 "$HERE/luci-app/root/usr/libexec/rpcd/tunguard" "$P/libexec/rpcd/tunguard"
install -m 0644 "$HERE/luci-app/root/usr/share/rpcd/acl.d/luci-app-tunguard.json" "$P/share/rpcd/acl.d/"

rm -rf "$W"
mkdir -p "$W/bin" "$W/state"
BB=$(command -v busybox)
for a in sh sed grep head tail cut tr cat mktemp rm hexdump wc mkdir chmod mv logger; do ln -sf "$BB" "$W/bin/$a"; done
ln -sf "$UCI" "$W/bin/uci"

# /etc for the namespace: the host's, plus the router's configuration.
cp -a /etc "$W/etc"
mkdir -p "$W/etc/config" "$W/etc/init.d" "$W/etc/rc.d"
node -e 'import(process.argv[1]).then((m) => process.stdout.write(m.DEFAULT_UCI))' \
	"$HERE/dist/src/config/defaults.js" >"$W/etc/config/tunguard"
cat >"$W/etc/config/network" <<'EOF'
config interface 'lan'
	option device 'br-lan'
	option proto 'static'

config interface 'wan'
	option device 'eth1'
	option proto 'dhcp'
EOF
# A LuCI user whose login grants the app's ACL group (rpcd compares the crypt(3) hash).
cat >"$W/etc/config/rpcd" <<EOF
config login
	option username 'luci'
	option password '$(openssl passwd -1 -salt tgsalt test)'
	list read 'luci-app-tunguard'
	list write 'luci-app-tunguard'
EOF
install -m 0755 "$HERE/openwrt/files/tunguard.init" "$W/etc/init.d/tunguard"
install -m 0755 "$HERE/openwrt/files/tunguard.uci-defaults" "$W/uci-defaults"

cat >"$W/inside.sh" <<EOF
set -eu
mount --bind "$W/etc" /etc
mkdir -p /var/run/rpcd
export PATH="$W/bin:\$PATH" TUNGUARD_STATE_DIR="$W/state" TUNGUARD_CLI="$HERE/bin/tunguard"
echo "== uci-defaults (real uci)"
sh "$W/uci-defaults"; echo "exit \$?"
echo "wan_follow=\$(uci get tunguard.main.wan_follow) wan_device=\$(uci get tunguard.main.wan_device) lan_device=\$(uci get tunguard.main.lan_device)"
ls -l /etc/tunguard/api.token | cut -c1-10
echo "second run:"; sh "$W/uci-defaults"; echo "exit \$?"; uci show tunguard.main | grep -E 'wan_|lan_'
SOCK=$W/ubus.sock
"$UBUSD" -s "\$SOCK" & UBUSD_PID=\$!
sleep 0.3
"$RPCD" -s "\$SOCK" & RPCD_PID=\$!
sleep 1
trap 'kill \$RPCD_PID \$UBUSD_PID' EXIT
echo "== ubus -v list tunguard"
"$UBUS" -s "\$SOCK" -v list tunguard
echo "== ubus call tunguard status (no daemon)"
"$UBUS" -s "\$SOCK" call tunguard status || echo "ubus exit \$?"
sleep 300 & LIVE=\$!
printf '{"pid":%d,"tier":"normal","halfOpen":0,"counters":{}}\n' \$LIVE >"$W/state/status.json"
echo "== ubus call tunguard status (a live pid)"
"$UBUS" -s "\$SOCK" call tunguard status
kill \$LIVE
echo "== ubus call tunguard rule_delete (bad id, refused by the plugin)"
"$UBUS" -s "\$SOCK" call tunguard rule_delete '{"id":"x;id"}' || echo "ubus exit \$?"
echo "== ubus call tunguard rule_save (nested rule through rpcd to the CLI; no daemon)"
"$UBUS" -s "\$SOCK" call tunguard rule_save '{"rule":{"id":"r1","kind":"threat","threat":{"id":"C:\\\\x"}},"create":true}' || echo "ubus exit \$?"
echo "== session login as luci"
SID=\$("$UBUS" -s "\$SOCK" call session login '{"username":"luci","password":"test"}' | sed -n 's/.*"ubus_rpc_session": "\([0-9a-f]*\)".*/\1/p')
echo "session \${SID:+ok}"
acc() { "$UBUS" -s "\$SOCK" call session access "{\"ubus_rpc_session\":\"\$SID\",\"scope\":\"\$1\",\"object\":\"\$2\",\"function\":\"\$3\"}" | tr -d ' \n'; echo " \$1 \$2 \$3"; }
for m in status log programs rule_save rule_delete program_add remediate nosuch; do acc ubus tunguard \$m; done
acc ubus rc list; acc ubus rc init; acc ubus luci-rpc getNetworkDevices; acc ubus file exec
acc file /tmp/tunguard-program.upload write; acc file /etc/passwd write; acc file /tmp/tunguard-program.upload read
acc uci tunguard read; acc uci tunguard write; acc uci network write
echo "== rpcd rc list over /etc/init.d/tunguard"
"$UBUS" -s "\$SOCK" call rc list '{"name":"tunguard"}'
EOF
unshare -m --propagation private bash "$W/inside.sh"

# ------------------------------------------------------------------------------ procd and ujail
# What the namespace overlays on /usr/lib, /usr/share, /usr/sbin and /usr/bin (Debian's /lib, /sbin
# and /bin are links into /usr): OpenWrt's shell libraries, ujail (procd runs /sbin/ujail), the preload
# libraries, busybox as /bin/sh (rc.common needs ash's `export -n`), and the daemon.
PW=$W/procd
build_procd_root() {
	rm -rf "$PW"
	mkdir -p "$PW"/{usrlib/functions,usrlib/config,usrlib/tunguard,usrshare/libubox,usrsbin,usrbin,bin}
	cp "$P/lib/functions.sh" "$PW/usrlib/"
	cp "$P/lib/functions/service.sh" "$P/lib/functions/procd.sh" "$PW/usrlib/functions/"
	cp "$P/lib/config/uci.sh" "$PW/usrlib/config/"
	cp "$P/lib/libsetlbf.so" "$P/lib/libpreload-seccomp.so" "$PW/usrlib/"
	cp "$DEPS/share/libubox/jshn.sh" "$PW/usrshare/libubox/"
	cp "$P/sbin/ujail" "$P/sbin/utrace" "$PW/usrsbin/"
	ln -s utrace "$PW/usrsbin/seccomp-trace"
	ln -s "$UCI" "$PW/usrsbin/uci"
	ln -s "$BB" "$PW/usrbin/sh"
	printf "import '%s/dist/src/cli/main.js';\n" "$HERE" >"$PW/usrlib/tunguard/tunguard.js"
	install -m 0755 "$HERE/openwrt/files/tunguard.cli" "$PW/usrbin/tunguard"
	for t in ubus jshn uci; do ln -s "$DEPS/bin/$t" "$PW/bin/$t"; done
	ln -s "$DEPS/sbin/ubusd" "$PW/bin/ubusd"
	ln -s "$P/sbin/procd" "$PW/bin/procd"
	ln -s "$P/bin/jsonpath" "$PW/bin/jsonfilter"
	cp -a /etc "$PW/etc"
	mkdir -p "$PW/etc/config" "$PW/etc/init.d" "$PW/etc/rc.d" "$PW/etc/capabilities" "$PW/etc/seccomp"
	cp "$P/etc/rc.common" "$PW/etc/rc.common"
	node -e 'import(process.argv[1]).then((m) => process.stdout.write(m.DEFAULT_UCI))' \
		"$HERE/dist/src/config/defaults.js" >"$PW/etc/config/tunguard"
	install -m 0644 "$HERE/openwrt/files/tunguard.capabilities.json" "$PW/etc/capabilities/tunguard.json"
}

# run_procd LABEL INIT SECCOMP(0|1) SECCOMP_JSON STEPS: the init script INIT under procd in fresh
# mount, PID and network namespaces (a WAN veth with a default route, br-lan with 192.0.2.1; a
# detection round of 192.0.2.1 configured, so nmap runs), then procd_steps_STEPS.
run_procd() {
	local label=$1 init=$2 seccomp=$3 json=$4 steps=$5
	echo "#### procd: $label"
	build_procd_root
	install -m 0755 "$init" "$PW/etc/init.d/tunguard"
	install -m 0644 "$json" "$PW/etc/seccomp/tunguard.json"
	declare -f "procd_steps_$steps" >"$PW/steps.sh"
	cat >"$PW/inside.sh" <<EOF
set -eu
PW=$PW
mount -t overlay ovl -o lowerdir=\$PW/usrlib:/usr/lib /usr/lib
mount -t overlay ovl -o lowerdir=\$PW/usrshare:/usr/share /usr/share
mount -t overlay ovl -o lowerdir=\$PW/usrsbin:/usr/sbin /usr/sbin
mount -t overlay ovl -o lowerdir=\$PW/usrbin:/usr/bin /usr/bin
mount --bind \$PW/etc /etc
mount -t tmpfs tmp /run
mount -t sysfs sys /sys
mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
# a /dev of its own, so the namespace's syslogd can own /dev/log (procd sends instance output there)
mkdir -p /run/hostdev; mount --rbind /dev /run/hostdev; mount -t tmpfs dev /dev
for n in null zero full random urandom tty; do touch /dev/\$n; mount --bind /run/hostdev/\$n /dev/\$n; done
mkdir -p /dev/net /dev/shm /run/ubus /run/lock /var/lock
touch /dev/net/tun; mount --bind /run/hostdev/net/tun /dev/net/tun
busybox syslogd -n -O \$PW/syslog.log & sleep 0.2
export LD_LIBRARY_PATH=$DEPS/lib:$P/lib PATH=\$PW/bin:/usr/sbin:/usr/bin:/sbin:/bin
ip link set lo up
ip link add wan type veth peer name wanpeer
ip link add br-lan type bridge
ip link add lan0 type veth peer name lan0peer
ip link set lan0 master br-lan
for d in wan wanpeer br-lan lan0 lan0peer; do ip link set \$d up; done
ip addr add 198.51.100.2/24 dev wan; ip route add default via 198.51.100.1 dev wan
ip addr add 192.0.2.1/24 dev br-lan
uci set tunguard.detect.enabled=1; uci add_list tunguard.detect.protected_host=192.0.2.1
uci set tunguard.detect.interval=3600; uci set tunguard.detect.scan_ports=7447,22
uci set tunguard.detect.scan_timeout=60; uci set tunguard.main.seccomp=$seccomp; uci commit tunguard
ubusd & sleep 0.3
# POSIXLY_CORRECT: glibc's getopt would take the daemon's --config for utrace's own (musl's stops).
POSIXLY_CORRECT=1 procd -S > \$PW/procd.log 2>&1 & PROCD=\$!
sleep 0.5
trap 'kill \$PROCD; sleep 0.3; kill %1 2>/dev/null' EXIT
. \$PW/steps.sh
ipid() { ubus call service list '{"name":"tunguard"}' | jsonfilter -e '@.tunguard.instances.instance1.pid'; }
daemon() { pgrep -P "\$(ipid)" -f tunguard.js; }
log() { grep -v "kern\|hotplug\|syslogd" \$PW/syslog.log | grep -o 'msg="[^"]*"\|jail: .*exited.*' | grep -v "durable\|api:\|IPv6"; }
set +e
procd_steps_$steps
EOF
	unshare -m -p -n -f --propagation private --mount-proc bash "$PW/inside.sh"
}

procd_steps_full() {
	echo "== service tunguard start"
	/etc/init.d/tunguard start
	sleep 3
	J=$(ipid)
	N=$(daemon)
	echo "procd's instance: $(tr '\0' ' ' </proc/"$J"/cmdline)"
	echo "daemon $N: $(tr '\0' ' ' </proc/"$N"/cmdline)"
	grep -E 'Cap|NoNewPrivs|Seccomp:' /proc/"$N"/status
	for c in $(pgrep -P "$N"); do
		echo "child $(tr '\0' ' ' </proc/"$c"/cmdline | cut -c1-40): $(grep -E 'CapEff|NoNewPrivs' /proc/"$c"/status | tr '\n' ' ')"
	done
	echo "== nmap, caught while the detection round runs"
	for _ in $(seq 1 400); do
		for k in $(pgrep -x nmap); do
			echo "nmap $k: $(grep -E 'Cap|NoNewPrivs|Seccomp:' /proc/"$k"/status | tr '\n' ' ')"
			break 2
		done
		sleep 0.05
	done
	for _ in $(seq 1 60); do
		log | grep -q "detect: checked" && break
		sleep 1
	done
	echo "== reload (SIGHUP through procd and ujail)"
	/etc/init.d/tunguard reload
	sleep 2
	echo "== kill -9 the daemon: respawn"
	kill -9 "$N"
	sleep 8
	N2=$(daemon)
	echo "respawned as $N2: $(grep -E 'CapEff|NoNewPrivs|Seccomp:' /proc/"$N2"/status | tr '\n' ' ')"
	echo "== service tunguard stop"
	/etc/init.d/tunguard stop
	sleep 3
	echo "after stop: instance '$(ipid)', daemon '$(pgrep -f tunguard.js)', tg0: $(ip -br link show tg0 2>&1)"
	echo "== the daemon's log"
	log
	echo "== its syslog tag (procd's, from the command's name): $(grep -o 'daemon[.][a-z]* [^ ]*: level=info event=start' "$PW"/syslog.log | head -1)"
}

procd_steps_short() {
	/etc/init.d/tunguard start
	sleep 8
	J=$(ipid)
	# Without a jail procd's instance is the daemon itself.
	N=${J:+$(pgrep -P "$J" -f tunguard.js || echo "$J")}
	[ -n "$N" ] && echo "daemon $N: $(grep -E 'CapEff|NoNewPrivs|Seccomp:' /proc/"$N"/status | tr '\n' ' ')"
	log | grep -E "jail|privileges" | head -4
}

# The whitelist's measurement: strace -f over the daemon and its children (start, a detection round
# with nmap through capsh, SIGHUP, SIGTERM), in the same namespace, outside procd.
procd_steps_measure() {
	strace -f -qq -c -o "$PW/strace.txt" /usr/bin/node /usr/lib/tunguard/tunguard.js run --config /etc/config/tunguard \
		>"$PW/straced.log" 2>&1 &
	SP=$!
	for _ in $(seq 1 90); do
		grep -q "detect: checked" "$PW/straced.log" && break
		sleep 1
	done
	N=$(pgrep -P $SP -f tunguard.js)
	kill -HUP "$N"
	sleep 2
	kill -TERM "$N"
	wait $SP
	echo "system calls made: $(awk 'NR>2 && $NF!="total" && $1!~/^-/ {print $NF}' "$PW/strace.txt" | sort | tr '\n' ' ')"
}

SECCOMP_JSON=$HERE/openwrt/files/tunguard.seccomp.json
[ "${UL_MEASURE:-0}" = 1 ] && run_procd "measure the system calls" "$HERE/openwrt/files/tunguard.init" 0 "$SECCOMP_JSON" measure
run_procd "the package's init script" "$HERE/openwrt/files/tunguard.init" 0 "$SECCOMP_JSON" full
run_procd "the package's init script, seccomp on" "$HERE/openwrt/files/tunguard.init" 1 "$SECCOMP_JSON" full
# Negative controls: the init script without its jail (procd then ignores capabilities and
# no_new_privs), and a whitelist without bpf (the filter is enforced: SIGSYS is signal 31).
sed 's/procd_add_jail .*/:/' "$HERE/openwrt/files/tunguard.init" >"$W/init-nojail"
run_procd "control: no jail" "$W/init-nojail" 0 "$SECCOMP_JSON" short
node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
	j.syscalls[0].names = j.syscalls[0].names.filter((n) => n !== "bpf");
	process.stdout.write(JSON.stringify(j));' "$SECCOMP_JSON" >"$W/seccomp-nobpf.json"
run_procd "control: seccomp without bpf" "$HERE/openwrt/files/tunguard.init" 1 "$W/seccomp-nobpf.json" short
