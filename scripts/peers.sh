#!/usr/bin/env bash
# peers.sh installs the real protocol peers the tests talk to (Debian packages)
# when they are missing, and writes .peers.env: the SIPHON_PEERS list that turns
# "skip when absent" into "fail when absent" for the tests (internal/testpeer).
#
# Add a peer by appending "debian-package:binary:peer-name" to PEERS. A
# "binary" that is an absolute path is checked as a file (for plug-ins).
set -uo pipefail

PEERS=(
  "sip-tester:sipp:sipp"
  "freediameterd:freeDiameterd:freediameter"
  "freediameter-extensions:/usr/lib/freeDiameter/rt_default.fdx:freediameter-extensions"
  "redis-server:redis-server:redis"
  "postgresql:pg_ctlcluster:postgres"
  "baresip-core:baresip:baresip"
  "sipvicious:svmap:sipvicious"
)

cd "$(dirname "$0")/.."
missing=()
for p in "${PEERS[@]}"; do
  IFS=: read -r pkg bin _ <<<"$p"
  command -v "$bin" >/dev/null 2>&1 || [ -e "$bin" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "peers: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null 2>&1 || echo "peers: apt-get update failed" >&2
  for pkg in "${missing[@]}"; do
    $SUDO apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1 \
      || echo "peers: could not install $pkg; its tests will skip" >&2
  done
fi

present=()
for p in "${PEERS[@]}"; do
  IFS=: read -r _ bin name <<<"$p"
  if command -v "$bin" >/dev/null 2>&1 || [ -e "$bin" ]; then present+=("$name"); fi
done
list=$(IFS=,; echo "${present[*]}")
echo "export SIPHON_PEERS=$list" > .peers.env
echo "peers: present: ${list:-none}"
