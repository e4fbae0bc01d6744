#!/usr/bin/env bash
# register.sh: REGISTER throughput, CPU per REGISTER and memory per binding of
# examples/registrar, measured with SIPp on loopback.
#
#   bench/register.sh [-backend memory|redis] [-auth] [-users N] [-rates "2000 4000 8000"] [-duration S]
#
# 1. starts examples/registrar (-auth=false unless -auth) on a free port;
# 2. fills N distinct AoRs (default 100000), waits for Timer J (32 s) so no
#    transaction state is left, and prints the Go heap and RSS per binding;
# 3. runs a REGISTER rate ladder (refreshes of those AoRs; with -auth each
#    one is REGISTER/401/REGISTER/200) and prints, per rate, the REGISTER
#    transactions per second that succeeded, failures, the registrar's CPU
#    and its CPU per REGISTER.
# -backend redis uses $SIPHON_REDIS_URL (scripts/services.sh sets it up).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
backend=memory; auth=0; users=100000; rates="2000 4000 8000 12000"; duration=15
while [ $# -gt 0 ]; do
  case "$1" in
    -backend) backend="$2"; shift 2 ;;
    -auth) auth=1; shift ;;
    -users) users="$2"; shift 2 ;;
    -rates) rates="$2"; shift 2 ;;
    -duration) duration="$2"; shift 2 ;;
    *) echo "usage: $0 [-backend memory|redis] [-auth] [-users N] [-rates \"R1 R2\"] [-duration S]" >&2; exit 2 ;;
  esac
done
need sipp; need go; need ss

go build -o "$WORK/registrar" "$ROOT/examples/registrar"
port=$(free_port); dport=$(free_port); uport=$(free_port)
# -guard=false: the guards' 50/s per-source limit would ban SIPp's one
# source at once; their cost is BenchmarkAllow's (transport/guard).
args=(-addr "127.0.0.1:$port" -debug "127.0.0.1:$dport" -log-level warn -guard=false -backend "$backend")
if [ "$backend" = redis ]; then
  if [ -z "${SIPHON_REDIS_URL:-}" ]; then
    bash "$ROOT/scripts/services.sh" >/dev/null && . "$ROOT/.peers.env"
  fi
  # A fresh database so the figures are this run's bindings only.
  url="${SIPHON_REDIS_URL%/*}/9"
  redis-cli -u "$url" flushdb >/dev/null
  args+=(-backend-url "$url")
fi

# The injection file: user;[authentication ...] (the keyword is expanded).
inf="$WORK/users.csv"; pw="$WORK/users.txt"
python3 - "$users" "$inf" "$pw" <<'PY'
import sys
n, inf, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(inf, "w") as f, open(pw, "w") as p:
    f.write("SEQUENTIAL\n")
    for i in range(n):
        u = f"u{i:07d}"
        f.write(f"{u};[authentication username={u} password=pw{i}]\n")
        p.write(f"{u}:pw{i}\n")
PY
scenario="$ROOT/bench/sipp/register.xml"
if [ "$auth" = 1 ]; then
  args+=(-users "$pw"); scenario="$ROOT/bench/sipp/register-auth.xml"
else
  args+=(-auth=false)
fi
"$WORK/registrar" "${args[@]}" >"$WORK/registrar.log" 2>&1 &
pid=$!; PIDS+=("$pid")
wait_udp "$port"
heap0=$(heap "127.0.0.1:$dport"); rss0=$(rss_kb "$pid")

echo "# siphon examples/registrar, backend=$backend auth=$auth users=$users ($(nproc) CPUs, $(uname -r))"
fill=5000
sipp_run "$WORK/fill.csv" -sf "$scenario" -inf "$inf" -i 127.0.0.1 -p "$uport" \
  -r "$fill" -m "$users" -l 20000 "127.0.0.1:$port"
echo "fill: $(sipp_counter "$WORK/fill.csv" 'SuccessfulCall(C)') ok, $(sipp_counter "$WORK/fill.csv" 'FailedCall(C)') failed"
echo "waiting 35 s for Timer J to end the REGISTER transactions..."
sleep 35
heap1=$(heap "127.0.0.1:$dport"); rss1=$(rss_kb "$pid")
awk -v h0="$heap0" -v h1="$heap1" -v r0="$rss0" -v r1="$rss1" -v n="$users" 'BEGIN {
  printf "memory: heap %.1f MB -> %.1f MB = %.0f bytes/binding; RSS %.1f MB -> %.1f MB = %.0f bytes/binding\n",
    h0/1048576, h1/1048576, (h1-h0)/n, r0/1024, r1/1024, (r1-r0)*1024/n }'

printf "%8s %10s %8s %8s %10s\n" rate REG/s failed cpu% us/REG
for r in $rates; do
  m=$((r * duration))
  t0=$(ticks "$pid"); s0=$(date +%s.%N)
  sipp_run "$WORK/step.csv" -sf "$scenario" -inf "$inf" -i 127.0.0.1 -p "$uport" \
    -r "$r" -m "$m" -l $((r * 4)) "127.0.0.1:$port"
  s1=$(date +%s.%N); t1=$(ticks "$pid")
  ok=$(sipp_counter "$WORK/step.csv" 'SuccessfulCall(C)')
  failed=$(sipp_counter "$WORK/step.csv" 'FailedCall(C)')
  awk -v ok="$ok" -v f="$failed" -v r="$r" -v dt="$(echo "$s1 - $s0" | bc)" -v dk=$((t1 - t0)) -v clk="$CLK" -v a="$auth" 'BEGIN {
    cpu = dk / clk; regs = ok * (a ? 2 : 1)
    printf "%8d %10.0f %8d %8.1f %10.1f\n", r, regs / dt, f, 100 * cpu / dt, (regs ? 1e6 * cpu / regs : 0) }'
  sleep 2
done
echo "(REG/s counts REGISTER transactions: with -auth each registration is two)"
rss2=$(rss_kb "$pid"); echo "RSS after the ladder: $((rss2 / 1024)) MB"
