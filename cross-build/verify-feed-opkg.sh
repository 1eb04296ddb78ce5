#!/usr/bin/env bash
# Checks the feed of `npm run build:openwrt` with OpenWrt's own opkg (opkg-lede) and usign, built here
# from their sources: `opkg update` with check_signature on (the stock OpenWrt setting) must pass the
# signature check after `opkg-key add` of the shipped key, and fail it for a changed index or without
# the key; `opkg install` into an offline root must take the x86_64 package and the collector (sha256
# and Size against the index, the ipk format). Not run by CI: it needs the sources, fetched by hand:
#
#   mkdir -p $OPKG_BUILD/src && cd $OPKG_BUILD/src
#   git clone https://git.openwrt.org/project/libubox.git
#   git clone https://git.openwrt.org/project/opkg-lede.git
#   git clone https://git.openwrt.org/project/usign.git
#   OPKG_BUILD=... bash cross-build/verify-feed-opkg.sh [feed dir, default build/openwrt]
#
# Needs cmake, gcc, pkg-config and libjson-c-dev (Debian 12). Writes only under $OPKG_BUILD.
set -euo pipefail
B=${OPKG_BUILD:?set OPKG_BUILD to a scratch directory holding src/libubox, src/opkg-lede, src/usign}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FEED=$(cd "${1:-$REPO/build/openwrt}" && pwd)
P=$B/root
for s in libubox opkg-lede usign; do [[ -d $B/src/$s ]] || { echo "missing $B/src/$s" >&2; exit 1; }; done

if [[ ! -x $P/bin/opkg-cl || ! -x $P/bin/usign ]]; then
  mkdir -p "$B/build/libubox" "$B/build/opkg" "$P/bin"
  (cd "$B/build/libubox" && cmake "$B/src/libubox" -DCMAKE_INSTALL_PREFIX="$P" -DBUILD_LUA=OFF \
    -DBUILD_EXAMPLES=OFF -DUNIT_TESTING=OFF >cmake.log && make -j2 >make.log && make install >install.log)
  (cd "$B/build/opkg" && cmake "$B/src/opkg-lede" -DCMAKE_INSTALL_PREFIX="$P" -DCMAKE_PREFIX_PATH="$P" \
    -DCMAKE_C_FLAGS="-I$P/include" -DCMAKE_EXE_LINKER_FLAGS="-L$P/lib" -DBUILD_TESTS=OFF -DVERSION=lede \
    >cmake.log && make -j2 >make.log && make install >install.log)
  (cd "$B/src/usign" && gcc -O2 -std=gnu99 -o "$P/bin/usign" ed25519.c edsign.c f25519.c fprime.c \
    sha512.c main.c base64.c)
fi
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
