# The flow-offload bench (sourced by smoke.sh; busybox ash). LAN-opened bulk TCP from the lan
# namespace to a peer in wan (smoke-net.mjs bulk / bulk-serve) through the guest's router, under fw4's
# own ruleset, in three columns:
#   kernel      fw4 with flow offloading, no daemon
#   tunguard    the same with the daemon running (LAN-opened flows bypass the TUN once seen, then
#               the kernel offloads them)
#   kernel-off  fw4 without the 'flow offload' rule, no daemon (for scale)
# Each record (one JSON line per row and run in $OB_LOG) carries the conntrack state of every measured
# connection at the window's start and end; offload-report.mjs turns them into the table and refuses
# a ratio for any run whose flows were not [OFFLOAD] throughout.
OB_PORT=7101
OB_LOG=/tmp/offload-bench.jsonl
OB_NOOFFLOAD=/tmp/fw4-no-offload.nft
OB_SETTLE_S=5

# ob_prepare: the peer in wan and the ruleset without offloading (fw4's, minus its one offload rule).
ob_prepare() {
  [ -f "$H/offload.nft" ] || fail "bench: no offload.nft beside the test script"
  sed '/flow offload @ft/d' "$H/offload.nft" >"$OB_NOOFFLOAD"
  grep -q 'flow offload' "$OB_NOOFFLOAD" && fail "bench: the offload rule is still in $OB_NOOFFLOAD"
  : >"$OB_LOG"
  # The slow path's share: packets of the peer's port that meet the forward hook (before fw4's
  # chain), each way. An offloaded packet never does. Read by smoke-net.mjs bulk.
  nft -f - <<EOF || fail "bench: cannot add the slow-path counters (table inet tgbench)"
table inet tgbench {
  counter ob_up { }
  counter ob_down { }
  chain slowpath {
    type filter hook forward priority -5; policy accept;
    tcp dport $OB_PORT counter name ob_up
    tcp sport $OB_PORT counter name ob_down
  }
}
EOF
  rm -f /tmp/observ.ready
  ip netns exec wan node "$NET_MJS" bulk-serve "$WAN_IP" "$OB_PORT" /tmp/observ.ready >/tmp/observ.log 2>&1 &
  for _ in $(seq 40); do
    [ -f /tmp/observ.ready ] && return 0
    nap
  done
  fail "bench: the bulk peer did not listen: $(cat /tmp/observ.log)"
}

# ob_run <column> <round>: fw4's ruleset for the column, then every row once (one node process).
ob_run() {
  # The control 'offload-off' measures every column without the offload rule.
  case $1-${OB_CONTROL:-} in
    kernel-off-* | *-offload-off) nft -f "$OB_NOOFFLOAD" || fail "bench: nft -f $OB_NOOFFLOAD" ;;
    *) nft -f "$H/offload.nft" || fail "bench: nft -f offload.nft" ;;
  esac
  [ "$1" = tunguard ] && cpu0=$(ob_ticks) t0=$(uptime_s)
  out=$(OB_TUN=$TUN ip netns exec lan node "$NET_MJS" bulk "$WAN_IP" "$OB_PORT" "$OB_WARM_MS" "$((OB_SECONDS * 1000))" $OB_ROWS 2>&1) ||
    fail "bench: $1 round $2: $out"
  echo "$out" | sed "s/^{/{\"column\":\"$1\",\"round\":$2,/" >>"$OB_LOG"
  mark "bench: $1 round $2: $(echo "$out" | tr '\n' ' ')"
  # The daemon's CPU (all its threads) over the run: what the bypassed, offloaded flows still cost it.
  if [ "$1" = tunguard ]; then
    cpu=$(awk -v a="$cpu0" -v b="$(ob_ticks)" -v t0="$t0" -v t1="$(uptime_s)" 'BEGIN { printf "%.1f", (b - a) / (t1 - t0) }')
    echo "{\"column\":\"tunguard\",\"round\":$2,\"cpuPct\":$cpu}" >>"$OB_LOG"
  fi
  nft delete table inet fw4 || fail "bench: nft delete table inet fw4"
}

# ob_finish: the peer and the counters go (the smoke's later steps run without them).
ob_finish() {
  [ -f /tmp/observ.ready ] && kill "$(cat /tmp/observ.ready)" 2>/dev/null
  nft delete table inet tgbench 2>/dev/null
}

# ob_verdict: the report, printed; fails the run when it refused a ratio.
ob_verdict() {
  ob_report >/tmp/ob-report.txt
  cat /tmp/ob-report.txt
  # The pipe's status is sed's: the report's verdict is its last line.
  tail -n 1 /tmp/ob-report.txt | grep -q '^QEMU-BENCH: verdict: ok' ||
    fail "bench: $(tail -n 1 /tmp/ob-report.txt | sed 's/^QEMU-BENCH: verdict: //')"
}

# ob_ticks: the daemon's utime + stime, clock ticks (100/s).
ob_ticks() { sed 's/.*) //' "/proc/$PID/stat" | awk '{ print $12 + $13 }'; }

# ob_report: the table and the JSON line (QEMU-BENCH: lines, printed by run.sh); its status is the
# report's (1: a ratio refused).
ob_report() {
  node "$H/offload-report.mjs" "$OB_LOG" "$OB_SECONDS" "$OB_CONTROL" | sed 's/^/QEMU-BENCH: /'
}

# offload_bench: the bench mode's whole run. Each round: kernel-off, kernel, (daemon start) tunguard,
# tunguard, (daemon stop) kernel: the paired order of bench/forward, plus the scale column.
offload_bench() {
  ob_prepare
  # The guest's first minute is slower (the first kernel runs were 2-5x slower than the last ones
  # of the same boot): one run of every row first, recorded as 'warmup' and left out of the table.
  ob_run warmup 0
  round=1
  while [ "$round" -le "$OB_ROUNDS" ]; do
    ob_run kernel-off "$round"
    ob_run kernel "$round"
    rm -f "$STATE/status.json" "$STATE/api.json"
    start_from_init_script
    wait_ready
    # Its start-up work (module loading, JIT) is over before the first run: settle first.
    sleep "$OB_SETTLE_S"
    ob_run tunguard "$round"
    ob_run tunguard "$round"
    stop_daemon
    ob_run kernel "$round"
    round=$((round + 1))
  done
  ob_finish
  ob_verdict
}

# The smoke's short bench (CI): one round, kernel, tunguard, tunguard, kernel, 1 stream each way,
# folded into the smoke's own daemon stops and starts (no start of its own): ob_smoke_begin where
# the daemon is stopped, ob_smoke_tunguard where it runs, ob_smoke_end after its last stop.
OB_SMOKE_ROWS='up1 down1' OB_SMOKE_SECONDS=2
ob_smoke_begin() {
  # 2 s before the window: on a loaded CI machine the bypass and the offload get their margin.
  OB_ROWS=$OB_SMOKE_ROWS OB_SECONDS=$OB_SMOKE_SECONDS OB_WARM_MS=2000 OB_CONTROL=
  ob_t0=$(uptime_s)
  ob_prepare
  ob_run kernel 1
  ob_spent=$(awk -v a="$ob_t0" -v b="$(uptime_s)" 'BEGIN { print b - a }')
}
ob_smoke_tunguard() {
  ob_t0=$(uptime_s)
  ob_run tunguard 1
  ob_run tunguard 1
  ob_spent=$(awk -v s="$ob_spent" -v a="$ob_t0" -v b="$(uptime_s)" 'BEGIN { print s + b - a }')
}
ob_smoke_end() {
  ob_t0=$(uptime_s)
  ob_run kernel 1
  ob_finish
  ob_verdict
  mark "offload bench (short) took $(awk -v s="$ob_spent" -v a="$ob_t0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", s + b - a }') s of the guest's clock"
}
