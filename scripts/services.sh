#!/usr/bin/env bash
# services.sh starts the database servers the tests use - Redis and
# PostgreSQL, when installed (scripts/peers.sh installs them) - on random high
# loopback ports, and appends their URLs to .peers.env as SIPHON_REDIS_URL and
# SIPHON_POSTGRES_URL. The servers keep running after the test run and are
# reused by the next one; their data lives in one temporary directory per
# checkout. `bash scripts/services.sh stop` stops them.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state="${TMPDIR:-/tmp}/siphon-services-$(id -u)-$(printf %s "$root" | md5sum | cut -c1-12)"
env_file="$root/.peers.env"

as_db_user() { # run a PostgreSQL command; initdb and postgres refuse root
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_bindir() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
  else
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
  fi
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
random_port() { echo $((20000 + RANDOM % 40000)); }

redis_ours() { # port answers and serves our directory (not another session's server)
  [ "$(redis-cli -p "$1" config get dir 2>/dev/null | sed -n 2p)" = "$state/redis" ]
}

stop() {
  if [ -f "$state/redis.pid" ]; then kill "$(cat "$state/redis.pid")" 2>/dev/null; rm -f "$state/redis.pid"; fi
  if [ -d "$state/pg/data" ]; then as_db_user "$(pg_bindir)/pg_ctl" -D "$state/pg/data" -m fast -w stop >/dev/null 2>&1; fi
  echo "services: stopped"
}

start_redis() {
  command -v redis-server >/dev/null 2>&1 || return 1
  if [ -f "$state/redis.port" ] && redis_ours "$(cat "$state/redis.port")"; then
    cat "$state/redis.port"; return 0
  fi
  mkdir -p "$state/redis"
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    local port; port=$(random_port)
    port_free "$port" || continue
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --protected-mode no \
      --dir "$state/redis" --daemonize yes --pidfile "$state/redis.pid" --logfile "$state/redis.log" >/dev/null 2>&1 || continue
    for _ in $(seq 50); do
      if redis_ours "$port"; then echo "$port" > "$state/redis.port"; echo "$port"; return 0; fi
      sleep 0.1
    done
  done
  return 1
}

start_postgres() {
  local bindir; bindir=$(pg_bindir)
  [ -n "$bindir" ] && [ -x "$bindir/initdb" ] || return 1
  local data="$state/pg/data"
  if [ -f "$state/pg.port" ] && as_db_user "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1 &&
     as_db_user "$bindir/pg_isready" -q -h 127.0.0.1 -p "$(cat "$state/pg.port")"; then
    cat "$state/pg.port"; return 0
  fi
  mkdir -p "$state/pg"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$state/pg"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    (cd /tmp && as_db_user "$bindir/initdb" -D "$data" -U siphon --auth=trust -E UTF8 --no-sync) \
      > "$state/pg/initdb.log" 2>&1 || return 1
  fi
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    local port; port=$(random_port)
    port_free "$port" || continue
    if (cd /tmp && as_db_user "$bindir/pg_ctl" -D "$data" -l "$state/pg/log" -w -t 30 \
        -o "-p $port -k $state/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start) >/dev/null 2>&1; then
      echo "$port" > "$state/pg.port"; echo "$port"; return 0
    fi
  done
  return 1
}

if [ "${1:-}" = "stop" ]; then stop; exit 0; fi

mkdir -p "$state" && chmod 755 "$state"
touch "$env_file"
sed -i '/^export SIPHON_REDIS_URL=/d; /^export SIPHON_POSTGRES_URL=/d' "$env_file"

if port=$(start_redis); then
  echo "export SIPHON_REDIS_URL=redis://127.0.0.1:$port/0" >> "$env_file"
  echo "services: redis on 127.0.0.1:$port"
elif command -v redis-server >/dev/null 2>&1; then
  echo "services: redis-server did not start (see $state/redis.log)" >&2
fi
if port=$(start_postgres); then
  echo "export SIPHON_POSTGRES_URL=postgres://siphon@127.0.0.1:$port/postgres?sslmode=disable" >> "$env_file"
  echo "services: postgresql on 127.0.0.1:$port"
elif [ -n "$(pg_bindir)" ]; then
  echo "services: postgresql did not start (see $state/pg)" >&2
fi
exit 0
