#!/usr/bin/env bash
# `npm run build:openwrt`: the OpenWrt packages into build/openwrt/ (cross-build/README.md):
#   addons/<target>/   the musl native addons (cross-build/addons.sh)
#   bundle/            the JS bundle and the other architecture-independent files (cross-build/bundle.mjs)
#   *.ipk, Packages, Packages.gz, packages.json   (cross-build/ipk.mjs)
#   Packages.sig, tunguard-feed.pub                (cross-build/sign-feed.mjs: usign's format)
# The feed's signing key: --key FILE, else $TUNGUARD_FEED_KEY, else build/keys/feed.key (made on the
# first build, like the buildroot's key-build; outside the output directory, so it survives a clean).
# Installs what it needs with apt-get (root). Skips the work when nothing it reads has changed since
# the last build into the same directory (--force: build anyway).
#
#   bash cross-build/build-openwrt.sh [--out DIR] [--force] [--key FILE]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=cross-build/toolchain.sh
source "$REPO/cross-build/toolchain.sh"

OUT=$REPO/build/openwrt
FORCE=0
FEED_KEY=${TUNGUARD_FEED_KEY:-$REPO/build/keys/feed.key}
while (($#)); do
  case $1 in
  --out) OUT=$2 && shift 2 ;;
  --force) FORCE=1 && shift ;;
  --key) FEED_KEY=$2 && shift 2 ;;
  *) die "usage: build-openwrt.sh [--out DIR] [--force] [--key FILE]" ;;
  esac
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
[[ -d $REPO/node_modules/esbuild ]] || die "node_modules is missing: run 'npm install' first"

# Every file's mtime in the packages is this moment: the last commit's time, or SOURCE_DATE_EPOCH.
EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || true)}
[[ $EPOCH =~ ^[0-9]+$ ]] || EPOCH=1700000000

ensure_host_tools
ensure_sysroot

# What the packages are made of: sources, scripts, locked dependencies, toolchain, sysroot.
inputs_key() {
  {
    echo "epoch $EPOCH"
    node --version
    clang --version | head -n1
    (cd "$DEBS" && ls -1)
    cd "$REPO"
    find src bpf native/tun.c openwrt cross-build luci-app package.json package-lock.json tsconfig.json \
      -path cross-build/qemu-test -prune -o -type f -printf '%m %p\n' | LC_ALL=C sort
    find src bpf native/tun.c openwrt cross-build luci-app package.json package-lock.json tsconfig.json \
      -path cross-build/qemu-test -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
}
KEY=$(inputs_key)
STAMP=$OUT/.inputs
# Signing is cheap and depends on the key, not on the packages: it runs on every call, built or not.
sign() { node "$REPO/cross-build/sign-feed.mjs" --feed "$OUT" --key "$FEED_KEY"; }
if ((!FORCE)) && [[ -f $STAMP && $(cat "$STAMP") == "$KEY" ]] && compgen -G "$OUT/tunguard_*.ipk" >/dev/null; then
  echo "build-openwrt: $OUT is up to date"
  sign
  exit 0
fi
rm -f "$STAMP"

t0=$(date +%s%N)
bash "$REPO/cross-build/addons.sh" --out "$OUT/addons"
rm -rf "$OUT/bundle"
node "$REPO/cross-build/bundle.mjs" --out "$OUT/bundle"
node "$REPO/cross-build/ipk.mjs" --bundle "$OUT/bundle" --addons "$OUT/addons" --out "$OUT" --epoch "$EPOCH"
sign
echo "$KEY" >"$STAMP"
echo "build-openwrt: done in $((($(date +%s%N) - t0) / 1000000)) ms: $OUT"
