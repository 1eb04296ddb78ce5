# Shared helpers of the QEMU smoke test: messages, failure, timing. Sourced by run.sh.

log() { printf 'qemu-test: %s\n' "$*" >&2; }
die() {
  printf 'qemu-test: FAIL %s\n' "$*" >&2
  exit 1
}

# Wall-clock seconds with microseconds (bash 5's EPOCHREALTIME; no subprocess).
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
# Seconds between two now() values, one decimal.
since() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.1f", b - a }'; }

# A file's size in MB, one decimal.
size_mb() { awk -v n="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", n / 1048576 }'; }

# First 16 hex digits of the SHA-256 of stdin: cache keys.
hash16() { sha256sum | cut -c1-16; }
