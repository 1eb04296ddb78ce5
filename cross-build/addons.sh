#!/usr/bin/env bash
# Builds the native parts of the OpenWrt package for every target in cross-build/targets.json, for
# musl (OpenWrt's libc), with Debian's clang + lld:
#   tunguard_tun.node  native/tun.c (C, Node-API only), linked against musl's libc.so alone
#   lmdb.node          lmdb's own musl prebuild from npm where lmdb publishes one (x86_64, aarch64),
#                      else lmdb's sources from node_modules/lmdb built here (arm; see lmdb_from_source)
# Both are stripped. Writes <out>/<target>/{tunguard_tun.node,lmdb.node,origin.txt}.
#
#   bash cross-build/addons.sh --out <dir> [--target <name>]...
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=cross-build/toolchain.sh
source "$REPO/cross-build/toolchain.sh"

OUT=
ONLY=()
while (($#)); do
  case $1 in
  --out) OUT=$2 && shift 2 ;;
  --target) ONLY+=("$2") && shift 2 ;;
  *) die "usage: addons.sh --out <dir> [--target <name>]..." ;;
  esac
done
[[ -n $OUT ]] || die "usage: addons.sh --out <dir> [--target <name>]..."
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

ensure_host_tools
ensure_sysroot
NODE_INC=$(node_include_dir)
CLANG_RES=$(clang -print-resource-dir)
LMDB_DIR=$REPO/node_modules/lmdb
[[ -f $LMDB_DIR/package.json ]] || die "node_modules/lmdb is missing: run 'npm install' first"
LMDB_VERSION=$(node -p "require('$LMDB_DIR/package.json').version")
# node-addon-api as lmdb resolves it (lmdb's C++ is written against it).
NAPI_INC=$(node -p "require('path').dirname(require.resolve('node-addon-api/package.json', { paths: ['$LMDB_DIR'] }))" 2>/dev/null) ||
  die "node-addon-api (lmdb's build dependency) is missing: run 'npm install' first"
JOBS=$(nproc)

# Paths of this machine never end up in a binary (reproducible on any checkout).
PREFIX_MAPS=("-ffile-prefix-map=$REPO=." "-ffile-prefix-map=$CROSS_CACHE=/cross" "-ffile-prefix-map=$NODE_INC=/node")

# One line per target, "|"-separated: name, clang target, musl triplet, kernel-header triplet, lmdb prebuild
# package ("" = build from source), prebuild file, then the target's cflags.
target_lines() {
  node -e '
    const t = require(process.argv[1]).targets;
    for (const [name, v] of Object.entries(t))
      console.log([name, v.clangTarget, v.muslTriplet, v.kernelTriplet, v.lmdb.prebuild ?? "", v.lmdb.file ?? "", v.cflags.join(" ")].join("|"));
  ' "$REPO/cross-build/targets.json"
}

# clang for a target: musl's headers and the kernel's UAPI headers only, nothing of the host's.
# Sets CC_FLAGS.
cc_flags() { # <clang target> <musl triplet> <kernel triplet> <cflags...>
  local tgt=$1 mt=$2 kt=$3
  shift 3
  CC_FLAGS=(--target="$tgt" "$@" -fPIC -nostdinc -isystem "$CLANG_RES/include" -isystem "$SYSROOT/usr/include/$mt"
    -isystem "$SYSROOT/usr/$kt/include" "${PREFIX_MAPS[@]}")
}

build_tun() { # <out dir> <clang target> <musl triplet> <kernel triplet> <cflags...>
  local dir=$1 tgt=$2 mt=$3
  shift
  cc_flags "$@"
  clang "${CC_FLAGS[@]}" -O2 -std=gnu11 -Wall -Wextra -Wno-unused-parameter -I"$NODE_INC" \
    -shared -fuse-ld=lld -nostdlib -Wl,--as-needed -Wl,-soname,tunguard_tun.node -Wl,-z,relro -Wl,-z,now \
    -Wl,--build-id=sha1 -L"$SYSROOT/lib/$mt" -lc "$REPO/native/tun.c" -o "$dir/tunguard_tun.node"
  llvm-strip --strip-unneeded "$dir/tunguard_tun.node"
  shift 3
  echo "tunguard_tun.node: native/tun.c, clang $(clang -dumpversion) --target=$tgt $*, musl $(musl_version "$mt")" >>"$dir/origin.txt"
}

musl_version() {
  basename "$(cached_deb "musl:$(deb_arch "$1")")" | cut -d_ -f2
}

deb_arch() {
  case $1 in aarch64-*) echo arm64 ;; arm-*) echo armhf ;; x86_64-*) echo amd64 ;; esac
}

# lmdb's published musl build, from node_modules when npm installed it for this host, else `npm pack`
# of the same version into the cache (the npm registry only).
lmdb_prebuild() { # <out dir> <package> <file>
  local dir=$1 pkg=$2 file=$3 src
  if [[ -f $REPO/node_modules/$pkg/$file ]] &&
    [[ $(node -p "require('$REPO/node_modules/$pkg/package.json').version") == "$LMDB_VERSION" ]]; then
    src=$REPO/node_modules/$pkg/$file
  else
    local cache=$CROSS_CACHE/npm/${pkg//\//+}@$LMDB_VERSION
    if [[ ! -f $cache/package/$file ]]; then
      mkdir -p "$cache"
      local tgz
      tgz=$(cd "$cache" && npm pack --silent "$pkg@$LMDB_VERSION" | tail -n1)
      tar -xzf "$cache/$tgz" -C "$cache"
    fi
    src=$cache/package/$file
    [[ -f $src ]] || die "$pkg@$LMDB_VERSION has no $file"
  fi
  # The prebuilds carry debug info (≈ 3.4 MB); stripped they are ≈ 0.7 MB.
  llvm-strip --strip-unneeded -o "$dir/lmdb.node" "$src"
  echo "lmdb.node: $pkg@$LMDB_VERSION $file (lmdb's own musl prebuild), stripped" >>"$dir/origin.txt"
}

# libstdc++'s headers as Debian ships them are configured for glibc: a few settings name what musl
# lacks. This overlay (searched first) carries the same files with those settings undone; everything
# else is Debian's. The ABI is libstdc++'s, the same on glibc and musl: at run time the router's own
# libstdc++.so.6 (OpenWrt's libstdcpp, built for musl) provides it.
cxx_overlay() { # <gnu triplet> → prints the overlay dir
  local gt=$1 src ov
  src=$(compgen -G "$SYSROOT/usr/$gt/include/c++/*/$gt/bits" | head -n1)
  [[ -n $src ]] || die "no libstdc++ headers for $gt in $SYSROOT"
  ov=$CROSS_CACHE/cxx-musl-overlay/$gt
  mkdir -p "$ov/bits"
  # pthread_cond_clockwait, pthread_mutex_clocklock, pthread_rwlock_clock*: glibc 2.30+, not musl.
  sed -E 's@^#define (_GLIBCXX_USE_PTHREAD_(COND_CLOCKWAIT|MUTEX_CLOCKLOCK|RWLOCK_CLOCKLOCK)) 1$@/* \1: not in musl */@' \
    "$src/c++config.h" >"$ov/bits/c++config.h"
  # glibc's name of the locale handle type; musl has only the POSIX one.
  sed 's/\b__locale_t\b/locale_t/g' "$src/c++locale.h" >"$ov/bits/c++locale.h"
  # Debian's os_defines.h tests glibc versions (__GLIBC_PREREQ, undefined under musl); musl's answers:
  cat >"$ov/bits/os_defines.h" <<'EOF'
// tunguard cross-build: libstdc++ OS settings for musl (replaces Debian's glibc ones).
#ifndef _GLIBCXX_OS_DEFINES
#define _GLIBCXX_OS_DEFINES 1
#define __NO_CTYPE 1
#include <features.h>
// pthreads live in musl's libc itself: threads are always active, no weak-symbol probing.
#define _GLIBCXX_GTHREAD_USE_WEAK 0
#define _GLIBCXX_NATIVE_THREAD_ID pthread_self()
#endif
EOF
  echo "$ov"
}

# lmdb's native part (lmdb-js C++ over the LMDB and LZ4 C sources) from the npm package's own
# sources, with lmdb's binding.gyp settings for its Node-API builds (ENABLE_V8_FUNCTIONS=false).
lmdb_from_source() { # <out dir> <clang target> <musl triplet> <kernel triplet> <cflags...>
  local dir=$1 tgt=$2 mt=$3 kt=$4
  shift
  local gt=$kt obj=$dir/lmdb-obj
  local gcclib
  gcclib=$(compgen -G "$SYSROOT/usr/lib/gcc-cross/$gt/*/libgcc.a" | head -n1)
  gcclib=$(dirname "$gcclib")
  local cxxinc ov
  cxxinc=$(compgen -G "$SYSROOT/usr/$gt/include/c++/*" | head -n1)
  ov=$(cxx_overlay "$gt")
  rm -rf "$obj" && mkdir -p "$obj"
  local defs=(-DMDB_MAXKEYSIZE=0 -DNAPI_DISABLE_CPP_EXCEPTIONS -DMDB_USE_ROBUST -DBUILDING_NODE_EXTENSION
    -DNODE_GYP_MODULE_NAME=lmdb -D_LARGEFILE_SOURCE -D_FILE_OFFSET_BITS=64)
  local incs=(-I"$NODE_INC" -I"$NAPI_INC" -I"$LMDB_DIR/dependencies/lz4/lib"
    -I"$LMDB_DIR/dependencies/lmdb/libraries/liblmdb")
  local cflags cxxflags
  cc_flags "$@"
  cflags=("${CC_FLAGS[@]}" -O3 -fvisibility=hidden "${defs[@]}" "${incs[@]}" -w)
  cxxflags=(-isystem "$ov" -isystem "$cxxinc" -isystem "$cxxinc/$gt" "${cflags[@]}"
    -std=gnu++17 -fno-rtti -fno-exceptions -fvisibility-inlines-hidden)
  local s running=0 failed=0
  # Up to $JOBS compilers at once.
  throttle() {
    running=$((running + 1))
    if ((running >= JOBS)); then
      wait -n || failed=1
      running=$((running - 1))
    fi
  }
  for s in lmdb-js writer env compression ordered-binary misc txn dbi cursor v8-functions; do
    clang++ "${cxxflags[@]}" -c "$LMDB_DIR/src/$s.cpp" -o "$obj/$s.o" &
    throttle
  done
  for s in lmdb/libraries/liblmdb/mdb lmdb/libraries/liblmdb/midl lmdb/libraries/liblmdb/chacha8 lz4/lib/lz4; do
    clang "${cflags[@]}" -std=gnu11 -c "$LMDB_DIR/dependencies/$s.c" -o "$obj/$(basename "$s").o" &
    throttle
  done
  while ((running > 0)); do
    wait -n || failed=1
    running=$((running - 1))
  done
  ((failed == 0)) || die "compiling lmdb $LMDB_VERSION for $tgt failed"
  # Link order as gcc's driver would: crtbeginS, objects, C++ runtime, libc, compiler builtins, crtendS.
  clang++ --target="$tgt" -shared -fuse-ld=lld -nostdlib -Wl,--as-needed -Wl,-soname,lmdb.node \
    -Wl,-z,relro -Wl,-z,now -Wl,--build-id=sha1 \
    "$gcclib/crtbeginS.o" "$obj"/*.o "$SYSROOT/usr/$gt/lib/libstdc++.so.6" "$SYSROOT/usr/$gt/lib/libgcc_s.so.1" \
    -L"$SYSROOT/lib/$mt" -lc "$gcclib/libgcc.a" "$gcclib/crtendS.o" -o "$dir/lmdb.node"
  llvm-strip --strip-unneeded "$dir/lmdb.node"
  rm -rf "$obj"
  shift 3
  echo "lmdb.node: lmdb@$LMDB_VERSION built from its npm sources (no musl prebuild for this target), clang $(clang -dumpversion) --target=$tgt $*, libstdc++ headers of Debian's $(basename "$cxxinc") with cross-build's musl overlay; needs libstdc++.so.6 and libgcc_s.so.1 at run time" >>"$dir/origin.txt"
}

while IFS="|" read -r name tgt mt kt prebuild file cflags; do
  if ((${#ONLY[@]})) && [[ ! " ${ONLY[*]} " == *" $name "* ]]; then continue; fi
  dir=$OUT/$name
  rm -rf "$dir" && mkdir -p "$dir"
  # shellcheck disable=SC2086
  build_tun "$dir" "$tgt" "$mt" "$kt" $cflags
  if [[ -n $prebuild ]]; then
    lmdb_prebuild "$dir" "$prebuild" "$file"
  else
    # shellcheck disable=SC2086
    lmdb_from_source "$dir" "$tgt" "$mt" "$kt" $cflags
  fi
  echo "addons: $name: $(cd "$dir" && stat -c '%n %s' ./*.node | tr '\n' ' ')"
done < <(target_lines)
