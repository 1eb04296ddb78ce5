#!/bin/bash
# Runs the package's router-side pieces against OpenWrt's real userland, built from source on Debian:
# the uci-defaults with the real `uci`, and the rpcd plugin and ACL file under the real `rpcd` through
# `ubus` (method signatures, a call, login with the ACL group, what the session may and may not do,
# rpcd's rc object over the init script). Not run by CI: it needs the sources, fetched by hand.
#
#   UL=/tmp/ul bash cross-build/openwrt-userland.sh
#
# $UL/src/{libubox,uci,ubus,ucode,rpcd}: git checkouts (openwrt/<name>). Built into $UL/root (libubox,
# uci, ubus, ucode as in ../../shared/fixtures/fw4/tools/build.sh; rpcd with the file and ucode
# plugins, no iwinfo, its -Werror dropped for Debian 12's gcc). Set UL_DEPS to a root where the first
# four are already built to skip them. rpcd takes its plugin and ACL directories from its install
# prefix ($UL/root/libexec/rpcd, $UL/root/share/rpcd/acl.d); /etc is a copy, in a private mount
# namespace, holding /etc/config/{rpcd,tunguard,network} and /etc/init.d/tunguard.
# Needs: root (unshare -m), cmake, gcc, pkg-config, libjson-c-dev, busybox, openssl.
set -euo pipefail
UL=${UL:?set UL to a scratch directory with the sources under \$UL/src}
HERE=$(cd "$(dirname "$0")/.." && pwd)
P=$UL/root
DEPS=${UL_DEPS:-$P}
export LD_LIBRARY_PATH="$DEPS/lib:$P/lib"

build() {
	local n=$1
	shift
	mkdir -p "$UL/build/$n"
	(cd "$UL/build/$n" && cmake "$UL/src/$n" -DCMAKE_INSTALL_PREFIX="$P" -DCMAKE_PREFIX_PATH="$DEPS" \
		-DCMAKE_C_FLAGS="-I$DEPS/include -D_GNU_SOURCE" \
		-DCMAKE_EXE_LINKER_FLAGS="-L$DEPS/lib -Wl,-rpath,$DEPS/lib" \
		-DCMAKE_SHARED_LINKER_FLAGS="-L$DEPS/lib -Wl,-rpath,$DEPS/lib" "$@" >cmake.log 2>&1 &&
		make -j2 >make.log 2>&1 && make install >install.log 2>&1) || {
		echo "build of $n failed: see $UL/build/$n/*.log" >&2
		exit 1
	}
	echo "built $n"
}

if [ "$DEPS" = "$P" ] && [ ! -x "$P/bin/uci" ]; then
	build libubox -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF -DUNIT_TESTING=OFF
	build uci -DBUILD_LUA=OFF -DBUILD_STATIC=OFF
	build ubus -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF
	build ucode -DCMAKE_INSTALL_LIBDIR=lib -DFS_SUPPORT=ON -DUCI_SUPPORT=ON -DUBUS_SUPPORT=ON \
		-DRTNL_SUPPORT=OFF -DNL80211_SUPPORT=OFF -DZLIB_SUPPORT=OFF -DDIGEST_SUPPORT=OFF
fi
if [ ! -x "$P/sbin/rpcd" ]; then
	sed -i 's/-Werror//g' "$UL/src/rpcd/CMakeLists.txt"
	build rpcd -DIWINFO_SUPPORT=OFF -DUCODE_SUPPORT=ON
fi
UCI=$DEPS/bin/uci UBUS=$DEPS/bin/ubus UBUSD=$DEPS/sbin/ubusd RPCD=$P/sbin/rpcd
for t in "$UCI" "$UBUS" "$UBUSD" "$RPCD"; do [ -x "$t" ] || { echo "missing $t" >&2; exit 1; }; done

# The package's files where rpcd looks for them.
mkdir -p "$P/libexec/rpcd" "$P/share/rpcd/acl.d"
install -m 0755 "$HERE/luci-app/root/usr/libexec/rpcd/tunguard" "$P/libexec/rpcd/tunguard"
install -m 0644 "$HERE/luci-app/root/usr/share/rpcd/acl.d/luci-app-tunguard.json" "$P/share/rpcd/acl.d/"

W=$UL/run
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
