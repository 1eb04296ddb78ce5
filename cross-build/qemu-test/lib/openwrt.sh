# OPENWRT_IMAGE mode: boots a real OpenWrt image (armsr-armv8 or x86-64) and runs the same guest
# smoke test there, after `opkg install` of the package. NOT RUN on the project's machines (no
# OpenWrt image is there and none may be downloaded): see the README. Sourced by run.sh.
#
# How the test gets in: a plain tar archive attached as a second raw disk, read in the guest with
# `tar -xf /dev/vdb` — no filesystem driver, 9p or network needed, only the block driver the image
# boots with. How it is started: the serial console, typed into through a FIFO once the image says
# "Please press Enter to activate this console".

openwrt_arch() {
  case ${OPENWRT_ARCH:-} in
    aarch64 | x86_64) echo "$OPENWRT_ARCH"; return ;;
    '') ;;
    *) die "OPENWRT_ARCH: aarch64 or x86_64, not '$OPENWRT_ARCH'" ;;
  esac
  case $(basename "$OPENWRT_IMAGE") in
    *armsr-armv8* | *armvirt-64*) echo aarch64 ;;
    *x86-64*) echo x86_64 ;;
    *) die "cannot tell the architecture of $(basename "$OPENWRT_IMAGE"): set OPENWRT_ARCH=aarch64 or x86_64" ;;
  esac
}

# openwrt_disk <image>: a raw disk QEMU can boot (OpenWrt ships images gzip'd with a signature
# after the gzip stream, so gzip warns of trailing garbage and exits 2: that is success here).
openwrt_disk() {
  local img=$1 out=$RUN/openwrt.img rc=0
  case $img in
    *.gz)
      gzip -dc "$img" >"$out" 2>"$RUN/gunzip.err" || rc=$?
      ((rc == 0 || rc == 2)) || die "cannot gunzip $img: $(cat "$RUN/gunzip.err")"
      printf '%s\n' "$out"
      ;;
    *) printf '%s\n' "$img" ;; # -snapshot keeps QEMU from writing to it
  esac
}

# wait_serial <pattern> <deadline (SECONDS)> <qemu pid>: until the serial log shows the pattern.
wait_serial() {
  while ! tr -d '\r' <"$RUN/serial.log" | grep -aq "$1"; do
    kill -0 "$3" 2>/dev/null || return 1
    ((SECONDS < $2)) || return 1
    sleep 1
  done
}

run_openwrt() {
  local arch img ipk qemu=() disk_if=${OPENWRT_DISK_IF:-virtio} f deadline qpid status=0 ok=0
  [[ -f $OPENWRT_IMAGE ]] || die "OPENWRT_IMAGE: no such file: $OPENWRT_IMAGE"
  arch=$(openwrt_arch)
  case $arch in
    aarch64)
      ensure_host_tools HOST_NEEDS_OPENWRT_AARCH64
      ipk=$(find_ipk 'aarch64_*')
      qemu=(qemu-system-aarch64 -M virt -cpu cortex-a53 -bios /usr/share/qemu-efi-aarch64/QEMU_EFI.fd)
      ;;
    x86_64)
      ensure_host_tools HOST_NEEDS_OPENWRT_X86_64
      ipk=$(find_ipk x86_64)
      qemu=(qemu-system-x86_64 -M q35)
      # KVM only when asked: under nested virtualisation it can abort QEMU (it did on the build machine).
      if [[ ${OPENWRT_KVM:-0} == 1 ]]; then qemu+=(-accel kvm -cpu host); fi
      ;;
  esac
  log "OpenWrt image $OPENWRT_IMAGE ($arch), package $ipk"

  local T_BUILD T_BOOT T_END
  T_BUILD=$(now)
  img=$(openwrt_disk "$OPENWRT_IMAGE")
  mkdir -p "$RUN/payload/pkgs"
  cp "$HERE/guest/smoke.sh" "$HERE/guest/smoke-net.mjs" "$HERE/guest/procd-shim.sh" "$RUN/payload/"
  cp "$ipk" "$RUN/payload/pkgs/"
  if [[ -n ${OPENWRT_PACKAGES:-} ]]; then
    [[ -d $OPENWRT_PACKAGES ]] || die "OPENWRT_PACKAGES: no such directory: $OPENWRT_PACKAGES"
    for f in "$OPENWRT_PACKAGES"/*.ipk; do [[ -e $f ]] && cp "$f" "$RUN/payload/pkgs/"; done
  fi
  tar -cf "$RUN/payload.tar" -C "$RUN/payload" .

  T_BOOT=$(now)
  log "booting OpenWrt (limit ${TIMEOUT} s)"
  rm -f "$RUN/console.in"
  mkfifo "$RUN/console.in"
  exec 8<>"$RUN/console.in"
  : >"$RUN/serial.log"
  timeout --kill-after=10 "$TIMEOUT" "${qemu[@]}" -m 1024 -smp 2 -no-reboot -snapshot \
    -display none -monitor none -serial stdio -nic none \
    -drive "file=$img,format=raw,if=$disk_if" \
    -drive "file=$RUN/payload.tar,format=raw,if=$disk_if,readonly=on" \
    <&8 >"$RUN/serial.log" 2>&1 &
  qpid=$!
  deadline=$((SECONDS + TIMEOUT))
  if wait_serial 'Please press Enter to activate this console' "$deadline" "$qpid"; then
    printf '\r' >&8
    sleep 2
    # The payload disk is the second one: vdb with virtio, sdb with ide/sata.
    printf '%s\r' 'mkdir -p /tmp/qt && for d in /dev/vdb /dev/sdb; do tar -xf $d -C /tmp/qt 2>/dev/null && break; done; sh /tmp/qt/smoke.sh openwrt; poweroff' >&8
  else
    log "no console prompt from OpenWrt"
  fi
  wait "$qpid" || status=$?
  exec 8>&-
  T_END=$(now)
  tr -d '\r' <"$RUN/serial.log" | grep -a '^QEMU-SMOKE:' >&2 || true
  verdict "$RUN/serial.log" "$status" || ok=1
  log "timing: prepare $(since "$T_BUILD" "$T_BOOT") s, boot+test $(since "$T_BOOT" "$T_END") s, total $(since "$T0" "$T_END") s"
  ((ok == 0)) && log "PASS"
  return $ok
}
