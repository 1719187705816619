#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: a new cluster in a temporary directory, run by
# the `postgres` user, listening on loopback and a private socket directory, with a database
# `jobcontrol_test`. Prints `export` lines for eval:
#   eval "$(scripts/postgres-sandbox.sh start [PORT])"   # PGSANDBOX_DIR, JOBCONTROL_TEST_PG_URL
#   scripts/postgres-sandbox.sh stop "$PGSANDBOX_DIR"
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ ! -x "$bin/initdb" ]; then
  echo "postgres-sandbox: installing postgresql" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q postgresql >/dev/null
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "${1:-start}" in
start)
  port=${2:-55432}
  directory=$(mktemp -d /tmp/jc-pg-XXXXXX)
  chmod 755 "$directory"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$directory"
  as_postgres "$bin/initdb" -D "$directory/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
  as_postgres "$bin/pg_ctl" -D "$directory/data" -l "$directory/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $directory -c fsync=off -c max_connections=300" start >/dev/null
  as_postgres "$bin/createdb" -h "$directory" -p "$port" -U postgres jobcontrol_test
  echo "export PGSANDBOX_DIR=$directory"
  echo "export JOBCONTROL_TEST_PG_URL=postgresql://postgres@127.0.0.1:$port/jobcontrol_test"
  ;;
stop)
  as_postgres "$bin/pg_ctl" -D "$2/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$2"
  ;;
esac
