#!/usr/bin/env bash
# calls.sh: calls per second, CPU per call and memory of examples/loadbalancer
# in front of two SIPp uas, measured with SIPp's uac on loopback.
#
#   bench/calls.sh [-rates "500 1000 2000 4000"] [-duration S] [-transport u1|t1]
#
# Per rate it prints the calls completed per second, failed calls, the load
# balancer's CPU % and µs of CPU per call (INVITE/100/180/200/ACK/BYE/200),
# and its RSS; after the ladder, the RSS again once 40 s have passed with no
# load (Timer J/M and the dialog table have let go), to show that memory
# returns to its idle level.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
rates="500 1000 2000 4000"; duration=15; mode=u1
while [ $# -gt 0 ]; do
  case "$1" in
    -rates) rates="$2"; shift 2 ;;
    -duration) duration="$2"; shift 2 ;;
    -transport) mode="$2"; shift 2 ;;
    *) echo "usage: $0 [-rates \"R1 R2\"] [-duration S] [-transport u1|t1]" >&2; exit 2 ;;
  esac
done
need sipp; need go; need ss

go build -o "$WORK/loadbalancer" "$ROOT/examples/loadbalancer"
port=$(free_port); a=$(free_port); b=$(free_port); uport=$(free_port)
tp=""; [ "$mode" = t1 ] && tp=";transport=tcp"
for p in "$a" "$b"; do
  timeout 3600 sipp -nostdin -sn uas -aa -t "$mode" -i 127.0.0.1 -p "$p" -l 100000 >/dev/null 2>&1 &
  PIDS+=("$!")
done
"$WORK/loadbalancer" -addr "127.0.0.1:$port" -dst "127.0.0.1:$a$tp,127.0.0.1:$b$tp" -log-level warn >"$WORK/lb.log" 2>&1 &
pid=$!; PIDS+=("$pid")
wait_udp "$port"; sleep 0.5
rss0=$(rss_kb "$pid")
echo "# siphon examples/loadbalancer, 2 SIPp uas, transport=$mode ($(nproc) CPUs, $(uname -r)); idle RSS $((rss0 / 1024)) MB"
printf "%8s %10s %8s %8s %10s %8s\n" rate calls/s failed cpu% us/call RSS_MB
for r in $rates; do
  m=$((r * duration))
  t0=$(ticks "$pid"); s0=$(date +%s.%N)
  sipp_run "$WORK/step.csv" -sn uac -t "$mode" -s bob -i 127.0.0.1 -p "$uport" \
    -r "$r" -m "$m" -l $((r * 4)) -recv_timeout 10000 "127.0.0.1:$port"
  s1=$(date +%s.%N); t1=$(ticks "$pid")
  ok=$(sipp_counter "$WORK/step.csv" 'SuccessfulCall(C)')
  failed=$(sipp_counter "$WORK/step.csv" 'FailedCall(C)')
  awk -v ok="$ok" -v f="$failed" -v r="$r" -v dt="$(echo "$s1 - $s0" | bc)" -v dk=$((t1 - t0)) -v clk="$CLK" -v rss="$(rss_kb "$pid")" 'BEGIN {
    cpu = dk / clk
    printf "%8d %10.0f %8d %8.1f %10.1f %8.1f\n", r, ok / dt, f, 100 * cpu / dt, (ok ? 1e6 * cpu / ok : 0), rss / 1024 }'
  sleep 2
done
echo "waiting 40 s with no load..."
sleep 40
echo "RSS idle after the ladder: $(( $(rss_kb "$pid") / 1024 )) MB (idle before: $((rss0 / 1024)) MB)"
