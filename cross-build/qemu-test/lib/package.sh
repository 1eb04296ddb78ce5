# The package under test, installed into the run's overlay "as opkg would": data.tar.gz unpacked into
# the root, control files under /usr/lib/opkg/info. This guest is glibc, so each shipped native addon
# (musl, for OpenWrt) is checked and then replaced at its path by a glibc arm64 build of the same
# code. Sourced by run.sh; needs rootfs.sh (elf_needed).

# unpack_ipk <ipk> <dir>: the three members of an .ipk (a gzip'd tar, not an ar archive).
unpack_ipk() {
  local ipk=$1 dir=$2 m
  rm -rf "$dir"
  mkdir -p "$dir/control"
  tar -xzf "$ipk" -C "$dir" 2>/dev/null || die "$ipk is not a gzip'd tar (an .ipk)"
  for m in debian-binary data.tar.gz control.tar.gz; do
    [[ -f $dir/$m ]] || die "$ipk has no ./$m"
  done
  [[ $(cat "$dir/debian-binary") == 2.0 ]] || die "$ipk: debian-binary is not '2.0'"
  tar -xzf "$dir/control.tar.gz" -C "$dir/control" || die "$ipk: control.tar.gz does not unpack"
  [[ -f $dir/control/control ]] || die "$ipk: control.tar.gz has no control file"
}

# control_field <control file> <field>
control_field() { sed -n "s/^$2: *//p" "$1" | head -1; }

# build_tun_addon: sets TUN_ADDON to a glibc aarch64 build of native/tun.c (Node-API headers from
# the guest's own Node release), cached by the inputs' hash.
build_tun_addon() {
  local key out
  key=$({ cat "$REPO/native/tun.c"; basename "$NODE_TGZ"; aarch64-linux-gnu-gcc --version | head -1; } | hash16)
  out=$CACHE/addon-$key
  TUN_ADDON=$out/tunguard_tun.node
  [[ -s $TUN_ADDON ]] && return 0
  rm -rf "$CACHE"/addon-*
  mkdir -p "$out/inc"
  tar -xzf "$NODE_TGZ" -C "$out/inc" --strip-components=3 --wildcards \
    'package/include/node/node_api*.h' 'package/include/node/js_native_api*.h' ||
    die "$NODE_TGZ has no Node-API headers"
  # The flags of native/binding.gyp; Node-API symbols resolve against the node binary at load.
  aarch64-linux-gnu-gcc -O2 -Wall -Wextra -Wno-unused-parameter -std=gnu11 -fPIC -shared \
    -I"$out/inc" -o "$TUN_ADDON.tmp" "$REPO/native/tun.c" || die "cross-compiling native/tun.c failed"
  mv "$TUN_ADDON.tmp" "$TUN_ADDON"
  log "built the glibc arm64 TUN addon ($(stat -c %s "$TUN_ADDON") bytes)"
}

# shipped_libc <file.node>: musl, glibc or none, from the libc it links.
shipped_libc() {
  local needed
  needed=$(elf_needed "$1")
  if grep -qx 'libc.so.6' <<<"$needed"; then echo glibc
  elif grep -qx 'libc.so' <<<"$needed"; then echo musl
  else echo none
  fi
}

# install_package <ipk> <root> <lmdb tgz>: as above; prints what it swapped.
install_package() {
  local ipk=$1 root=$2 lmdb_tgz=$3 work=$RUN/ipk name arch info f rel machine libc lmdb_glibc
  unpack_ipk "$ipk" "$work"
  name=$(control_field "$work/control/control" Package)
  arch=$(control_field "$work/control/control" Architecture)
  [[ -n $name ]] || die "$ipk: control has no Package field"
  [[ $arch == aarch64_* ]] || die "$ipk is for '$arch', this guest is aarch64"
  tar -xzf "$work/data.tar.gz" -C "$root" || die "$ipk: data.tar.gz does not unpack"
  info=$root/usr/lib/opkg/info
  mkdir -p "$info"
  for f in "$work"/control/*; do cp "$f" "$info/$name.$(basename "$f")"; done
  tar -tzf "$work/data.tar.gz" | sed -n 's#^\./#/#p' | grep -v '/$' >"$info/$name.list"
  log "installed $name ($(control_field "$work/control/control" Version), $arch): $(wc -l <"$info/$name.list") files"

  lmdb_glibc=$work/lmdb-glibc.node
  tar -xzOf "$lmdb_tgz" package/node.napi.glibc.node >"$lmdb_glibc" || die "$lmdb_tgz has no node.napi.glibc.node"
  local files=() tun=0 lmdb=0
  mapfile -d '' files < <(find "$root" -name '*.node' -type f -print0)
  for f in "${files[@]}"; do
    rel=${f#"$root"}
    machine=$(aarch64-linux-gnu-readelf -h "$f" 2>/dev/null | sed -n 's/^ *Machine: *//p')
    [[ $machine == AArch64 ]] || die "the package ships $rel built for '${machine:-not an ELF}', not AArch64"
    libc=$(shipped_libc "$f")
    [[ $libc != glibc ]] || die "the package ships $rel linked against glibc; OpenWrt is musl"
    case $rel in
      */tunguard_tun.node) cp "$TUN_ADDON" "$f" && tun=$((tun + 1)) ;;
      *lmdb*) cp "$lmdb_glibc" "$f" && lmdb=$((lmdb + 1)) ;;
      *) die "the package ships $rel, a native addon this test has no glibc build of" ;;
    esac
    log "swapped $rel (shipped: AArch64, $libc) for its glibc arm64 build"
  done
  ((tun >= 1)) || die "the package ships no tunguard_tun.node (the TUN addon)"
  ((lmdb >= 1)) || die "the package ships no lmdb addon (*lmdb*/*.node)"
}
