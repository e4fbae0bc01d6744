# Shared helpers of the bench scripts (sourced). Everything binds 127.0.0.1;
# every SIPp run has a call count (-m) and a -timeout.

CLK=$(getconf CLK_TCK)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${BENCH_WORK:-$(mktemp -d /tmp/siphon-bench.XXXXXX)}"
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT INT TERM

need() { command -v "$1" >/dev/null 2>&1 || { echo "bench: $1 is missing (make peers installs it)" >&2; exit 2; }; }

# free_port prints a port free on 127.0.0.1 for both UDP and TCP.
free_port() {
  python3 - <<'PY'
import socket
for _ in range(100):
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        u.close(); t.close()
PY
}

# ticks PID prints utime+stime of PID and its threads, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# rss_kb PID prints the resident set size in KB.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# heap DEBUGADDR prints the Go heap in use after a GC (the -debug endpoint).
heap() { python3 -c "import json,urllib.request;print(json.load(urllib.request.urlopen('http://$1/debug/mem'))['heap_inuse'])"; }

# wait_udp PORT waits until something listens on udp PORT.
wait_udp() {
  for _ in $(seq 100); do
    ss -H -ulpn "sport = :$1" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  echo "bench: nothing listening on udp $1" >&2; exit 1
}

# sipp_run STATFILE ARGS... runs SIPp bounded; the counters go to STATFILE.
sipp_run() {
  local stat="$1"; shift
  rm -f "$stat"
  timeout 600 sipp -nostdin -trace_stat -stf "$stat" -fd 1 -timeout 300s "$@" >"$stat.out" 2>&1 || true
}

# sipp_counter STATFILE NAME prints a cumulative counter of the last line.
sipp_counter() {
  awk -F';' -v name="$2" 'NR==1 {for (i=1;i<=NF;i++) if ($i==name) c=i; next} {v=$c} END {print v+0}' "$1"
}
