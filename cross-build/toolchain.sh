# shellcheck shell=bash
# Sourced by cross-build/addons.sh: the host tools (Debian's clang, lld, llvm) and one sysroot holding
# what the musl cross builds link against, all from Debian 12 packages:
#   musl, musl-dev (amd64, arm64, armhf)     musl's headers, libc.so, crt files
#   linux-libc-dev-<arch>-cross              the kernel's UAPI headers (linux/if_tun.h, ...)
#   lib{stdc++,gcc}-12-dev-armhf-cross       C++ headers, libgcc.a and crt files for the arm build of
#                                            lmdb (see addons.sh: lmdb_from_source)
#   libstdc++6-<arch>-cross, libgcc-s1-<arch>-cross
#                                            libstdc++.so.6 and libgcc_s.so.1: the arm link of lmdb, and
#                                            the symbol check of every lmdb.node (test/pkg)
# The .debs are fetched with `apt-get download` and unpacked with `dpkg-deb -x`: nothing for a foreign
# architecture is installed on the host. Idempotent; quick when everything is there.

CROSS_CACHE=${CROSS_CACHE:-$REPO/build/cross}
SYSROOT=$CROSS_CACHE/sysroot
DEBS=$CROSS_CACHE/debs

# command → the Debian package that provides it
declare -A HOST_TOOLS=([clang]=clang [ld.lld]=lld [llvm-strip]=llvm [readelf]=binutils
  [dpkg-deb]=dpkg [tar]=tar [gzip]=gzip)

SYSROOT_DEBS=(
  musl:amd64 musl-dev:amd64 musl:arm64 musl-dev:arm64 musl:armhf musl-dev:armhf
  linux-libc-dev-amd64-cross linux-libc-dev-arm64-cross linux-libc-dev-armhf-cross
  libstdc++-12-dev-armhf-cross libgcc-12-dev-armhf-cross
  libstdc++6-amd64-cross libstdc++6-arm64-cross libstdc++6-armhf-cross
  libgcc-s1-amd64-cross libgcc-s1-arm64-cross libgcc-s1-armhf-cross
)

die() {
  echo "cross-build: $*" >&2
  exit 1
}

as_root() {
  [[ $(id -u) -eq 0 ]] || die "needs root to install Debian packages: $*"
}

ensure_host_tools() {
  local missing=() tool
  for tool in "${!HOST_TOOLS[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${HOST_TOOLS[$tool]}")
  done
  ((${#missing[@]})) || return 0
  as_root "apt-get install ${missing[*]}"
  echo "cross-build: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || true # a partial failure (one mirror index) must not hide what did update
  # shellcheck disable=SC2046 # one word per package
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
  for tool in "${!HOST_TOOLS[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' still missing after installing ${HOST_TOOLS[$tool]}"
  done
}

# apt-get download of pkg:arm64 / pkg:armhf needs dpkg to know those architectures (nothing is installed).
ensure_foreign_archs() {
  local added=0 arch
  for arch in arm64 armhf; do
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
      as_root "dpkg --add-architecture $arch"
      dpkg --add-architecture "$arch"
      added=1
    fi
  done
  if ((added)) || ! apt-cache show musl-dev:armhf musl-dev:arm64 >/dev/null 2>&1; then
    as_root "apt-get update"
    apt-get update -qq || true
  fi
}

# The .deb of a package spec (name or name:arch) in the cache, if there.
cached_deb() {
  local name=${1%%:*} arch=${1#*:}
  [[ $arch == "$1" ]] && arch='*'
  compgen -G "$DEBS/${name}_*_${arch}.deb" | head -n1
}

ensure_sysroot() {
  mkdir -p "$DEBS" "$SYSROOT"
  local want=() spec
  for spec in "${SYSROOT_DEBS[@]}"; do
    [[ -n $(cached_deb "$spec") ]] || want+=("$spec")
  done
  if ((${#want[@]})); then
    ensure_foreign_archs
    echo "cross-build: downloading ${want[*]}"
    (cd "$DEBS" && apt-get download -q "${want[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
    for spec in "${want[@]}"; do
      [[ -n $(cached_deb "$spec") ]] || die "apt-get download $spec failed (is the Debian mirror reachable? apt-get update?)"
    done
  fi
  local stamp=$SYSROOT/.debs
  local list
  list=$(cd "$DEBS" && ls -1 ./*.deb | sort)
  if [[ ! -f $stamp || $(cat "$stamp") != "$list" ]]; then
    rm -rf "$SYSROOT" && mkdir -p "$SYSROOT"
    for spec in "${SYSROOT_DEBS[@]}"; do dpkg-deb -x "$(cached_deb "$spec")" "$SYSROOT"; done
    echo "$list" >"$stamp"
  fi
}

# The Node-API headers: what node-gyp used for native/ at `npm install` (its nodedir), else the
# headers installed beside this node, else node-gyp's header cache.
node_include_dir() {
  local cands=() nodedir ver
  nodedir=$(sed -n 's/^ *"nodedir": "\(.*\)",\{0,1\}$/\1/p' "$REPO/native/build/config.gypi" 2>/dev/null | head -n1)
  [[ -n $nodedir ]] && cands+=("$nodedir/include/node")
  cands+=("$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")/include/node")
  ver=$(node -p 'process.versions.node')
  cands+=("$HOME/.cache/node-gyp/$ver/include/node" "$HOME/.node-gyp/$ver/include/node")
  local d
  for d in "${cands[@]}"; do
    [[ -f $d/node_api.h ]] && {
      echo "$d"
      return 0
    }
  done
  die "no Node-API headers (node_api.h) in: ${cands[*]} — run 'npm install' first (node-gyp fetches them)"
}
