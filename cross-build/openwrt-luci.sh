#!/bin/bash
# Serves luci-app-tunguard with OpenWrt's own web stack, so a browser can use it as on a router:
# uhttpd (its ucode handler running LuCI's dispatcher, its /ubus JSON-RPC), rpcd (session, uci, file,
# rc, LuCI's plugins and the app's plugin), ubusd and logd, all on a staging root built from OpenWrt's
# sources. Not run by CI. cross-build/openwrt-luci-drive.mjs starts it in the lab's router namespace
# and drives it with Chromium; alone it serves until killed:
#
#   UL_ROOT=/path/to/root LISTEN=127.0.0.1:8088 ROOT_PW=... bash cross-build/openwrt-luci.sh
#
# UL_ROOT holds /usr and /www as OpenWrt installs them (prefix /usr): libubox, uci, ubus (ubusd),
# ucode with its fs/uci/ubus/math/html/lucihttp modules, rpcd with the file, ucode and rpcd-mod-luci
# plugins, uhttpd with its ucode and ubus plugins, cgi-io, ubox's logd and logread, LuCI's luci-base
# (luci.core included), luci-mod-status and luci-theme-bootstrap. The sources are fetched by hand and
# the recipe is not kept here (the fetched code stays out of this repository).
#
# In a private mount namespace: /usr is an overlay (the app's files, then UL_ROOT/usr, then the host's
# /usr, so node still runs), /etc a copy of the host's with the router's configuration, /www the
# docroot (an empty /www is made on the host as the mount point), /run and /dev private (logd's
# /dev/log). Logins (rpcd compares the shadow entry, as on a router):
#   root       ROOT_PW  every ACL (OpenWrt's stock /etc/config/rpcd)
#   tgoperator ROOT_PW  luci-base + luci-app-tunguard (read and write): the app's ACL is enough
#   tgviewer   ROOT_PW  luci-base + luci-app-tunguard for reading only: saving must be refused
# (both also hold rpcd's "unauthenticated" group, as a LuCI login other than root needs).
# TG_CONF: a tunguard UCI file, copied to /etc/config/tunguard (its state_dir names the daemon's).
# TG_LOG: a FIFO whose lines go to the system log as procd sends a service's output (tag tunguard).
# Prints "etc <dir>" once /etc is laid out and "ready <url>" once uhttpd answers.
# Needs: root, util-linux (unshare), busybox, openssl, curl.
set -euo pipefail
UL_ROOT=${UL_ROOT:?set UL_ROOT to the staging root (usr/, www/)}
LISTEN=${LISTEN:-127.0.0.1:8088}
ROOT_PW=${ROOT_PW:?set ROOT_PW}
W=${W:-/var/tmp/tunguard-luci}
HERE=$(cd "$(dirname "$0")/.." && pwd)
for t in "$UL_ROOT/usr/sbin/ubusd" "$UL_ROOT/usr/sbin/rpcd" "$UL_ROOT/usr/bin/uhttpd" "$UL_ROOT/usr/sbin/logd" \
	"$UL_ROOT/usr/lib/ucode/luci/core.so" "$UL_ROOT/usr/share/ucode/luci/uhttpd.uc"; do
	[ -e "$t" ] || { echo "missing $t" >&2; exit 1; }
done

rm -rf "$W"
mkdir -p "$W/app/usr/bin" "$W/www" "$W/hostdev"
# The app as luci.mk installs it: htdocs/ to /www, root/ to /.
cp -a "$UL_ROOT/www/." "$W/www/"
cp -a "$HERE/luci-app/htdocs/." "$W/www/"
cp -a "$HERE/luci-app/root/usr/." "$W/app/usr/"
# /usr/bin/tunguard as the package installs it (node running the built CLI).
printf '#!/bin/sh\nexec %s %s "$@"\n' "$(command -v node)" "$HERE/bin/tunguard" >"$W/app/usr/bin/tunguard"
chmod 0755 "$W/app/usr/bin/tunguard" "$W/app/usr/libexec/rpcd/tunguard"

# procd's "system" object (board, info), which LuCI's header and Status page read, as a stand-in: procd
# is the router's init and is not run here. Marked as such in what it returns.
mkdir -p "$W/app/usr/share/rpcd/ucode"
cat >"$W/app/usr/share/rpcd/ucode/system-standin.uc" <<'EOF'
'use strict';
import { readfile } from 'fs';
function num(s) { return +(s ?? 0); }
return {
	system: {
		board: { call: () => ({
			hostname: trim(readfile('/proc/sys/kernel/hostname') ?? 'router'), system: 'x86_64',
			model: 'procd stand-in (tunguard lab)', board_name: 'tunguard-lab', kernel: trim(readfile('/proc/sys/kernel/osrelease') ?? ''),
			release: { distribution: 'OpenWrt', version: 'userland built from source', revision: '', target: 'x86/64',
				description: 'OpenWrt userland built from source (procd not run)' }
		}) },
		info: { call: () => {
			const mem = {};
			for (let l in split(readfile('/proc/meminfo') ?? '', '\n')) {
				const m = match(l, /^(\w+):\s+(\d+)/);
				if (m) mem[m[1]] = num(m[2]) * 1024;
			}
			const load = map(slice(split(readfile('/proc/loadavg') ?? '0 0 0', ' '), 0, 3), (v) => int(+v * 65536));
			return { localtime: time(), uptime: int(+split(readfile('/proc/uptime') ?? '0', ' ')[0]), load,
				memory: { total: mem.MemTotal, free: mem.MemFree, shared: mem.Shmem, buffered: mem.Buffers,
					available: mem.MemAvailable, cached: mem.Cached },
				root: { total: 0, free: 0, used: 0, avail: 0 }, tmp: { total: 0, free: 0, used: 0, avail: 0 },
				swap: { total: 0, free: 0 } };
		} }
	}
};
EOF

# /etc: the host's, plus the router's configuration.
cp -a /etc "$W/etc"
mkdir -p "$W/etc/config" "$W/etc/init.d"
cp "$UL_ROOT/etc/config/luci" "$W/etc/config/luci"
if [ -n "${TG_CONF:-}" ]; then cp "$TG_CONF" "$W/etc/config/tunguard"; else
	node -e 'import(process.argv[1]).then((m) => process.stdout.write(m.DEFAULT_UCI))' \
		"$HERE/dist/src/config/defaults.js" >"$W/etc/config/tunguard"
fi
cat >"$W/etc/config/network" <<'EOF'
config interface 'lan'
	option device 'lan0'
	option proto 'static'

config interface 'wan'
	option device 'wan0'
	option proto 'dhcp'
EOF
cat >"$W/etc/config/rpcd" <<'EOF'
config rpcd
	option socket /var/run/ubus/ubus.sock
	option timeout 30

config login
	option username 'root'
	option password '$p$root'
	list read '*'
	list write '*'

config login
	option username 'tgoperator'
	option password '$p$tgoperator'
	list read 'unauthenticated'
	list read 'luci-base'
	list read 'luci-app-tunguard'
	list write 'luci-base'
	list write 'luci-app-tunguard'

config login
	option username 'tgviewer'
	option password '$p$tgviewer'
	list read 'unauthenticated'
	list read 'luci-base'
	list read 'luci-app-tunguard'
EOF
HASH=$(openssl passwd -6 -salt tunguardluci "$ROOT_PW")
sed -i '/^root:/d; /^tgoperator:/d; /^tgviewer:/d' "$W/etc/shadow" "$W/etc/passwd"
printf 'root:x:0:0:root:/root:/bin/sh\ntgoperator:x:10001:10001::/root:/bin/false\ntgviewer:x:10002:10002::/root:/bin/false\n' >>"$W/etc/passwd"
for u in root tgoperator tgviewer; do printf '%s:%s:20000:0:99999:7:::\n' "$u" "$HASH" >>"$W/etc/shadow"; done
install -m 0755 "$HERE/openwrt/files/tunguard.init" "$W/etc/init.d/tunguard"
echo "etc $W/etc"

cat >"$W/inside.sh" <<EOF
set -eu
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$W/app/usr:$UL_ROOT/usr:/usr" /usr
mount --bind "$W/etc" /etc
mount --bind "$W/www" /www
# Bundled theme setting (luci-theme-bootstrap's uci-defaults).
uci set luci.themes=internal; uci set luci.themes.Bootstrap=/luci-static/bootstrap; uci commit luci
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/ubus /run/rpcd /run/lock
# A private /dev with the usual nodes, so logd's /dev/log stays in here.
mount --bind /dev "$W/hostdev"
mount -t tmpfs -o mode=0755 tmpfs /dev
for n in null zero full random urandom tty; do touch /dev/\$n; mount --bind "$W/hostdev/\$n" /dev/\$n; done
mkdir -p /dev/shm /dev/pts; mount -t tmpfs tmpfs /dev/shm
umount -l "$W/hostdev"
pids=""
trap 'kill \$pids 2>/dev/null; wait' EXIT TERM INT
ubusd & pids="\$pids \$!"
for i in \$(seq 50); do [ -S /run/ubus/ubus.sock ] && break; sleep 0.1; done
logd -S 256 & pids="\$pids \$!"
rpcd -t 30 & pids="\$pids \$!"
for i in \$(seq 50); do ubus list session >/dev/null 2>&1 && break; sleep 0.1; done
if [ -n "${TG_LOG:-}" ]; then logger -t tunguard -p daemon.notice <"${TG_LOG:-}" & pids="\$pids \$!"; fi
# Symlinks are followed, as OpenWrt's uhttpd does: cgi-io's /www/cgi-bin/cgi-upload is one.
uhttpd -f -p "$LISTEN" -h /www -x /cgi-bin -u /ubus -o /cgi-bin/luci -O /usr/share/ucode/luci/uhttpd.uc \
	-t 60 -T 30 -k 20 -n 3 -N 100 -D & pids="\$pids \$!"
for i in \$(seq 50); do curl -s -o /dev/null "http://$LISTEN/" && break; sleep 0.1; done
echo "ready http://$LISTEN/cgi-bin/luci/"
wait
EOF
# LuCI lists /www through rpcd (the Status page's includes): the docroot must be /www. An empty
# directory on the host is the mount point.
mkdir -p /www
exec unshare -m --propagation private bash "$W/inside.sh"
