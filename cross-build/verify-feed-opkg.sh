#!/usr/bin/env bash
# Checks the feed of `npm run build:openwrt` with OpenWrt's own opkg (opkg-lede) and usign: `opkg
# update` with check_signature on (the stock OpenWrt setting) must pass the signature check after
# `opkg-key add` of the shipped key, and fail it for a changed index or without the key; `opkg
# install` into an offline root must take the x86_64 package and the collector (sha256 and Size
# against the index, the ipk format). Not run by CI. It only runs programs already built: OPKG_ROOT
# holds bin/opkg-cl, bin/usign and lib/ (libubox), built outside this repository from OpenWrt's
# sources (libubox, opkg-lede, usign); no recipe for that is kept here.
#
#   OPKG_ROOT=/path/to/root [OPKG_WORK=/scratch] bash cross-build/verify-feed-opkg.sh [feed dir, default build/openwrt]
#
# Writes only under OPKG_WORK (default /var/tmp/tunguard-opkg).
set -euo pipefail
P=${OPKG_ROOT:?set OPKG_ROOT to a root holding bin/opkg-cl, bin/usign and lib/, built outside this repository}
B=${OPKG_WORK:-/var/tmp/tunguard-opkg}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FEED=$(cd "${1:-$REPO/build/openwrt}" && pwd)
for f in "$P/bin/opkg-cl" "$P/bin/usign"; do [[ -x $f ]] || { echo "missing $f (OPKG_ROOT=$P)" >&2; exit 1; }; done
mkdir -p "$B"
export LD_LIBRARY_PATH=$P/lib PATH=$P/bin:$PATH

# An offline root as a router has it: /etc/opkg/keys, opkg-key (what OpenWrt 24.10's opkg-key does: add =
# copy under `usign -F`'s fingerprint; verify = the list unzipped into usign -V -P /etc/opkg/keys), opkg.conf.
R=$B/router
rm -rf "$R" && mkdir -p "$R/etc/opkg/keys" "$R/usr/sbin" "$R/var/lock" "$R/usr/lib/opkg"
cat >"$R/usr/sbin/opkg-key" <<KEY
#!/bin/sh
# As OpenWrt 24.10's opkg-key: keys named by usign's fingerprint; a list verified uncompressed (opkg
# keeps Packages.gz as it came).
keys=$R/etc/opkg/keys
case "\$1" in
add) fp=\$($P/bin/usign -F -p "\$2") && cp "\$2" "\$keys/\$fp" ;;
verify) (zcat "\$3" 2>/dev/null || cat "\$3") | $P/bin/usign -V -P "\$keys" -q -x "\$2" -m - ;;
*) exit 1 ;;
esac
KEY
chmod 755 "$R/usr/sbin/opkg-key"
cat >"$R/etc/opkg.conf" <<CONF
dest root /
lists_dir ext /var/opkg-lists
option check_signature 1
option verify_program $R/usr/sbin/opkg-key
arch all 1
arch noarch 1
arch x86_64 10
src/gz tunguard file://$FEED
CONF
opkg() { opkg-cl -f "$R/etc/opkg.conf" -o "$R" "$@"; }
fail() { echo "verify-feed-opkg: FAIL: $*" >&2; exit 1; }

echo "== opkg update without the key"
out=$(opkg update 2>&1 || true); echo "$out"
grep -q 'Signature check failed' <<<"$out" || fail "an unknown key passed"
echo "== opkg-key add, opkg update"
"$R/usr/sbin/opkg-key" add "$FEED/tunguard-feed.pub"
ls "$R/etc/opkg/keys"
out=$(opkg update 2>&1); echo "$out"
grep -q 'Signature check passed' <<<"$out" || fail "the signature check did not pass"
echo "== a changed index"
T=$B/tampered && rm -rf "$T" && cp -r "$FEED" "$T"
sed -i '0,/^Size: /s/^Size: \([0-9]*\)/Size: 1\1/' "$T/Packages" && gzip -n -9 -c "$T/Packages" >"$T/Packages.gz"
sed -i "s#file://$FEED#file://$T#" "$R/etc/opkg.conf"
out=$(opkg update 2>&1 || true); echo "$out"
grep -q 'Signature check failed' <<<"$out" || fail "a changed index passed"
sed -i "s#file://$T#file://$FEED#" "$R/etc/opkg.conf"
opkg update >/dev/null 2>&1
echo "== what this router (x86_64) sees"
opkg list | tee "$B/list.txt"
grep -q '^tunguard - ' "$B/list.txt" || fail "tunguard not listed"
grep -q '^luci-app-tunguard - ' "$B/list.txt" || fail "luci-app-tunguard not listed"
echo "== install into the offline root"
# The dependencies come from the release feeds, which are not here: the offline root's status file
# says they are installed (that is all opkg asks of them).
for d in libc node kmod-tun kmod-nft-dup-inet ip-full firewall4 libstdcpp6 openssl-util procd-ujail libcap-bin prometheus-node-exporter-lua lua-cjson; do
  printf 'Package: %s\nVersion: 1\nStatus: install user installed\nArchitecture: x86_64\n\n' "$d"
done >"$R/usr/lib/opkg/status"
opkg install tunguard prometheus-node-exporter-lua-tunguard 2>&1 | tee "$B/install.txt"
[[ -f $R/usr/lib/tunguard/tunguard.js && -f $R/usr/lib/lua/prometheus-collectors/tunguard.lua ]] || fail "files not installed"
opkg status tunguard | grep -q 'Architecture: x86_64' || fail "installed tunguard is not the x86_64 package"
echo "== every architecture name of targets.json: a router of that name sees its own package"
for arch in $(node -e 'for (const p of require(process.argv[1]).packages) console.log(p.arch)' "$REPO/cross-build/targets.json"); do
  sed -i "s/^arch [^ ]* 10$/arch $arch 10/" "$R/etc/opkg.conf"
  opkg update >/dev/null 2>&1
  got=$(opkg info tunguard 2>/dev/null | sed -n 's/^Architecture: //p' | sort -u)
  [[ $got == "$arch" ]] || fail "an $arch router sees tunguard for '$got'"
  echo "  $arch: tunguard_0.1.0-r1_$arch.ipk"
done
echo "verify-feed-opkg: OK ($(opkg-cl --version 2>&1 | head -n1))"
