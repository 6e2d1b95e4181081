#!/bin/sh
# A throwaway PostgreSQL cluster for the tests (the unit test of the store and the integration
# harness both use this one script).
#
#   pg-cluster.sh start OWNER_PID   initdb + pg_ctl start in a new temp directory, listening
#                                   only on 127.0.0.1 on a kernel-picked port; prints the
#                                   superuser's URL (postgresql://roundhouse@127.0.0.1:PORT/postgres)
#                                   on line 1 and the directory on line 2
#   pg-cluster.sh restart DIR       restarts the server (fast shutdown: sessions are cut)
#   pg-cluster.sh stop DIR          stops it and removes the directory
#
# initdb refuses to run as root: as root, the cluster runs as the unprivileged user nobody
# (runuser), in a directory it owns. No durability (fsync off): the data dies with the test.
# If OWNER_PID exits without calling stop (a killed test), a watcher stops the cluster within a
# few seconds; it gives up after an hour in any case.
set -eu

bindir=${ROUNDHOUSE_PG_BINDIR:-}
if [ -z "$bindir" ]; then
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && bindir=$d
  done
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "pg-cluster.sh: no initdb found under /usr/lib/postgresql (install the postgresql package)" >&2
  exit 2
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u nobody -- "$@"
  else
    "$@"
  fi
}

case "${1:-}" in
start)
  owner=${2:?owner pid}
  dir=$(mktemp -d /tmp/rh-pg-XXXXXX)
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown nobody "$dir"
  fi
  if ! as_owner "$bindir/initdb" -D "$dir/data" -U roundhouse --auth=trust -E UTF8 --locale=C \
      --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    exit 1
  fi
  # The port: one the kernel picked for a moment. Another program may take it before the
  # server binds it: then try again with a new one (bounded).
  started=
  for attempt in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
        "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null 2>&1; then
      started=1
      break
    fi
  done
  if [ -z "$started" ]; then
    cat "$dir/server.log" >&2 || true
    rm -rf "$dir"
    exit 1
  fi
  # The watcher: stops the cluster when its owner is gone (bounded: one hour of checks). In
  # its own session, so that a kill of the owner's process group (a test runner's timeout)
  # does not take the watcher with it.
  setsid sh -c '
    owner=$1 dir=$2 bindir=$3 i=0
    while [ $i -lt 3600 ] && kill -0 "$owner" 2>/dev/null && [ -d "$dir/data" ]; do
      sleep 1
      i=$((i + 1))
    done
    if [ -d "$dir/data" ]; then
      if [ "$(id -u)" = 0 ]; then
        runuser -u nobody -- "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop
      else
        "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop
      fi
      rm -rf "$dir"
    fi
  ' watcher "$owner" "$dir" "$bindir" </dev/null >/dev/null 2>&1 &
  echo "postgresql://roundhouse@127.0.0.1:$port/postgres"
  echo "$dir"
  ;;
restart)
  dir=${2:?directory}
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null
  ;;
stop)
  dir=${2:?directory}
  case "$dir" in
  /tmp/rh-pg-*) ;;
  *) echo "pg-cluster.sh: not a cluster directory: $dir" >&2; exit 2 ;;
  esac
  if [ -d "$dir/data" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: pg-cluster.sh start OWNER_PID | restart DIR | stop DIR" >&2
  exit 2
  ;;
esac
