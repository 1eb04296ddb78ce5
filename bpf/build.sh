#!/usr/bin/env bash
# Builds the eBPF programs (bpf/*.c) into dist/bpf/<name>.bpfel.o and .bpfeb.o with clang: both byte
# orders, whatever this machine is, so a package can carry the one its router needs. Needs clang and
# the kernel's UAPI headers (Debian: clang, linux-libc-dev). Skips objects newer than their sources.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$REPO/dist/bpf}
command -v clang >/dev/null || { echo "bpf/build.sh: clang is missing (apt-get install -y clang)" >&2; exit 1; }
mkdir -p "$OUT"
# The UAPI headers include <asm/types.h>, which Debian keeps under the host's multiarch directory.
INC=()
arch=$(gcc -print-multiarch 2>/dev/null || true)
[[ -n $arch && -d /usr/include/$arch ]] && INC=(-I "/usr/include/$arch")
for src in "$REPO"/bpf/*.c; do
  name=$(basename "$src" .c)
  for target in bpfel bpfeb; do
    obj=$OUT/$name.$target.o
    if [[ $obj -nt $src && $obj -nt $REPO/bpf/tg_bpf.h ]]; then continue; fi
    # -mcpu=v3: atomic fetch-and-add with its result and 32-bit jumps (Linux 5.12+; tunguard needs 6.6).
    clang -O2 -g0 -Wall -Werror -mcpu=v3 -target "$target" "${INC[@]}" -c "$src" -o "$obj.tmp"
    mv "$obj.tmp" "$obj"
  done
done
