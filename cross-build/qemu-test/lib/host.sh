# Host tools, installed with apt-get only when missing (a second run costs a few stat calls), and
# apt's arm64 package lists, fetched only when something must be downloaded. Sourced by run.sh.

# What each mode needs: "cmd:<command>" or "file:<path>", then "=<Debian package>".
HOST_NEEDS_INITRAMFS=(
  cmd:qemu-system-aarch64=qemu-system-arm
  cmd:cpio=cpio
  cmd:flock=util-linux
  cmd:dpkg-deb=dpkg
  # The host's own binutils mangle arm64 ELF files; these read, strip and link them.
  cmd:aarch64-linux-gnu-readelf=binutils-aarch64-linux-gnu
  cmd:aarch64-linux-gnu-objcopy=binutils-aarch64-linux-gnu
  cmd:aarch64-linux-gnu-strip=binutils-aarch64-linux-gnu
  # The glibc arm64 build of the TUN addon (native/tun.c) for this guest.
  cmd:aarch64-linux-gnu-gcc=gcc-aarch64-linux-gnu
  file:/usr/aarch64-linux-gnu/include/stdio.h=libc6-dev-arm64-cross
  file:/usr/aarch64-linux-gnu/include/linux/if_tun.h=linux-libc-dev-arm64-cross
)
HOST_NEEDS_OPENWRT_AARCH64=(
  cmd:qemu-system-aarch64=qemu-system-arm
  cmd:flock=util-linux
  file:/usr/share/qemu-efi-aarch64/QEMU_EFI.fd=qemu-efi-aarch64
)
HOST_NEEDS_OPENWRT_X86_64=(
  cmd:qemu-system-x86_64=qemu-system-x86
  cmd:flock=util-linux
)

as_root_or_die() {
  [[ $(id -u) -eq 0 ]] || die "needs root for: $1 (run as root, or do it by hand first)"
}

apt_update() {
  export DEBIAN_FRONTEND=noninteractive
  log "apt-get update"
  # Other jobs may hold apt's lock: wait for it. A mirror mid-sync fails some index (of any
  # architecture): go on, and let the caller check that what it needs is there.
  apt-get -o DPkg::Lock::Timeout=600 update -qq || log "warning: apt-get update reported errors (above)"
}

# ensure_host_tools <array name>: installs the packages of whatever is missing.
ensure_host_tools() {
  local -n needs=$1
  local entry what pkg missing=()
  for entry in "${needs[@]}"; do
    what=${entry%=*} pkg=${entry##*=}
    case $what in
      cmd:*) command -v "${what#cmd:}" >/dev/null 2>&1 && continue ;;
      file:*) [[ -e ${what#file:} ]] && continue ;;
    esac
    [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  as_root_or_die "apt-get install -y ${missing[*]}"
  log "installing ${missing[*]}"
  apt_update
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
}

# ensure_arm64_lists: apt knows the arm64 architecture and has its lists (packages of it are only
# downloaded, never installed, on this host).
ensure_arm64_lists() {
  local update=0
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    as_root_or_die "dpkg --add-architecture arm64"
    dpkg --add-architecture arm64
    update=1
  fi
  ((update)) || apt-cache show --no-all-versions linux-image-arm64:arm64 >/dev/null 2>&1 || update=1
  ((update)) || return 0
  as_root_or_die "apt-get update"
  apt_update
  apt-cache show --no-all-versions linux-image-arm64:arm64 >/dev/null 2>&1 ||
    die "apt has no arm64 package lists even after apt-get update (does the mirror carry arm64?)"
}
