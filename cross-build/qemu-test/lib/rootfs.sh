# The guest's base: the Debian arm64 kernel and an initramfs with busybox, ip, nft, node, the
# shared libraries those need and the kernel modules the test loads. Cached under $CACHE/base-<key>
# (the key covers every input), so only the first run pays for it. Sourced by run.sh.

READELF=aarch64-linux-gnu-readelf

# Modules the guest loads (dependencies are added and ordered from each module's .modinfo):
# tun for the daemon, veth for the test's namespaces, and what the daemon's nft table uses
# (ct zone set, fib daddr type, limit rate, dup for the router's own services; sets and counters
# are built into nf_tables).
GUEST_MODULES=(tun veth nf_tables nft_ct nfnetlink_cthelper nft_fib_inet nft_limit nft_dup_ipv4 nft_dup_ipv6
  # ctnetlink, for the test's conntrack -L
  nf_conntrack_netlink
  # what fw4's ruleset with flow offloading uses (guest/smoke.sh loads test/fixtures/fw4/offload.nft)
  nft_reject_inet nft_masq nft_nat nft_chain_nat nf_flow_table_inet nft_flow_offload
  # the daemon's tc programs as cls_bpf filters (--tc-attach cls_bpf, as on a kernel without TCX)
  sch_ingress cls_bpf)

# elf_needed <file>: the DT_NEEDED entries of an ELF file, one a line.
elf_needed() { "$READELF" -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
# elf_interp <file>: its program interpreter, if dynamic.
elf_interp() { "$READELF" -l "$1" 2>/dev/null | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]$/\1/p'; }

# copy_with_libs <from-root> <to-root> <path in root>...: copies the files and, transitively,
# every library they need from the same tree. A missing library is a failure that names it.
copy_with_libs() {
  local from=$1 to=$2 queue=() seen=" " f lib dir found interp
  shift 2
  queue=("$@")
  while ((${#queue[@]})); do
    f=${queue[0]}
    queue=("${queue[@]:1}")
    [[ $seen == *" $f "* ]] && continue
    seen+="$f "
    mkdir -p "$to/$(dirname "$f")"
    cp -L "$from/$f" "$to/$f"
    interp=$(elf_interp "$to/$f")
    if [[ -n $interp ]]; then
      [[ -e $from$interp ]] || die "$f needs the interpreter $interp, not in the downloaded packages"
      queue+=("${interp#/}")
    fi
    while read -r lib; do
      [[ -n $lib ]] || continue
      found=
      for dir in lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu lib usr/lib; do
        [[ -e $from/$dir/$lib ]] && { found=$dir/$lib; break; }
      done
      [[ -n $found ]] || die "$f needs $lib: no downloaded package has it (add its package to GUEST_DEBS)"
      queue+=("$found")
    done < <(elf_needed "$to/$f")
  done
}

# modinfo_depends <module.ko>: the modules to load before it, one a line, from its .modinfo:
# depends= (symbols) and softdep's pre: list (e.g. libcrc32c fails to init without crc32c).
modinfo_depends() {
  aarch64-linux-gnu-objcopy -O binary --only-section=.modinfo "$1" /dev/stdout 2>/dev/null | tr '\0' '\n' |
    sed -n -e 's/^depends=//p' -e 's/^softdep=.*pre: *\([^:]*\)\( post:.*\)\{0,1\}$/\1/p' |
    tr ', ' '\n\n' | sed '/^$/d'
}

# module_order <modules dir> <name>...: the .ko paths (relative to the dir) in load order.
module_order() {
  local dir=$1 done_list=" " order=()
  shift
  visit() {
    local name=$1 ko dep
    [[ $done_list == *" $name "* ]] && return 0
    ko=$(find "$dir" -name "$name.ko" -print -quit)
    [[ -n $ko ]] || ko=$(find "$dir" -name "${name//_/-}.ko" -print -quit)
    # A softdep may name an alias (crc32c is provided by crc32c_generic).
    [[ -n $ko ]] || ko=$(grep -rlaP --include='*.ko' "\\0alias=\\Q$name\\E\\0" "$dir" | LC_ALL=C sort | head -1)
    [[ -n $ko ]] || die "kernel module $name.ko is not in the kernel package (built in? compressed?)"
    while read -r dep; do visit "$dep"; done < <(modinfo_depends "$ko")
    done_list+="$name "
    order+=("${ko#"$dir"/}")
  }
  local m
  for m in "$@"; do visit "$m"; done
  printf '%s\n' "${order[@]}"
}

# build_base: sets BASE_DIR holding vmlinuz and base.cpio.gz.
build_base() {
  local key deb stage pkgroot root kroot kver modroot m
  key=$(
    {
      basename -a "$KERNEL_DEB" "$NODE_TGZ"
      for deb in "${GUEST_DEBS[@]}"; do basename "$(cached_deb "$deb")"; done
      printf '%s\n' "${GUEST_MODULES[@]}"
      cat "$HERE/lib/rootfs.sh"
    } | hash16
  )
  BASE_DIR=$CACHE/base-$key
  if [[ -s $BASE_DIR/base.cpio.gz && -s $BASE_DIR/vmlinuz ]]; then
    log "base initramfs cached ($BASE_DIR)"
    return 0
  fi
  log "building the base initramfs"
  stage=$CACHE/tmp-base
  rm -rf "$stage" "$CACHE"/base-*
  pkgroot=$stage/pkgs root=$stage/root kroot=$stage/kernel
  mkdir -p "$pkgroot" "$root" "$kroot"
  for deb in "${GUEST_DEBS[@]}"; do dpkg-deb -x "$(cached_deb "$deb")" "$pkgroot"; done
  dpkg-deb -x "$KERNEL_DEB" "$kroot"
  # Newer Debian kernels ship xz-compressed modules; busybox's insmod takes them plain.
  find "$kroot/lib/modules" -name '*.ko.xz' -exec xz -d {} +
  tar -xzf "$NODE_TGZ" -C "$stage" package/bin/node
  mkdir -p "$pkgroot/usr/bin"
  aarch64-linux-gnu-strip -o "$pkgroot/usr/bin/node" "$stage/package/bin/node"

  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,var,root}
  ln -s ../run "$root/var/run"
  cp "$pkgroot/bin/busybox" "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  # OpenWrt's ip-full and nft live in /usr/sbin; the daemon finds them through PATH.
  mkdir -p "$pkgroot/usr/sbin"
  cp -L "$pkgroot/bin/ip" "$pkgroot/usr/sbin/ip"
  cp -L "$pkgroot/sbin/tc" "$pkgroot/usr/sbin/tc"
  copy_with_libs "$pkgroot" "$root" usr/bin/node usr/sbin/ip usr/sbin/nft usr/sbin/conntrack usr/sbin/tc
  printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"

  kver=$(basename "$(ls -d "$kroot"/lib/modules/*/)")
  modroot=lib/modules/$kver
  mkdir -p "$root/etc/qemu-test"
  module_order "$kroot/$modroot" "${GUEST_MODULES[@]}" >"$stage/modules"
  while read -r m; do
    mkdir -p "$root/$modroot/$(dirname "$m")"
    cp "$kroot/$modroot/$m" "$root/$modroot/$m"
    printf '/%s/%s\n' "$modroot" "$m" >>"$root/etc/qemu-test/modules"
  done <"$stage/modules"

  mkdir -p "$stage/out"
  cp "$(ls "$kroot"/boot/vmlinuz-*)" "$stage/out/vmlinuz"
  (cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
    cpio --null -o -H newc --owner 0:0 --quiet) | gzip -6 >"$stage/out/base.cpio.gz"
  mv "$stage/out" "$BASE_DIR"
  rm -rf "$stage"
  log "base initramfs: $(size_mb "$BASE_DIR/base.cpio.gz") MB gz, kernel $kver"
}
