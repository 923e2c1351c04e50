#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL cluster for the test suite, on a loopback port, and write
# the URL to .pg/env. PostgreSQL refuses to run as root, so the cluster belongs to the `postgres` user.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${ORDERBRIDGE_PG_PORT:-55439}"
DATA="/tmp/orderbridge-pg-${PORT}"
mkdir -p .pg

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "postgres-up: installing Debian's postgresql-15" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql-15 >/dev/null
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
if ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql postgres
fi
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ ! -f "$DATA/PG_VERSION" ]; then
  rm -rf "$DATA"
  mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown postgres: "$DATA"
  as_pg "$bindir/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >/dev/null
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PORT"
    echo "unix_socket_directories = '$DATA'"
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
    echo "max_connections = 200"
  } | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
fi
if ! as_pg "$bindir/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  as_pg "$bindir/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >/dev/null
fi
for db in orderbridge_test orderbridge_erp_test; do
  as_pg "$bindir/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" \
    | grep -q 1 || as_pg "$bindir/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$db"
done
cat > .pg/env <<ENV
export ORDERBRIDGE_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:${PORT}/orderbridge_test
export ORDERBRIDGE_TEST_ERP_PG_URL=postgresql+psycopg://postgres@127.0.0.1:${PORT}/orderbridge_erp_test
ENV
echo "postgres-up: PostgreSQL on 127.0.0.1:${PORT} (data in ${DATA})"
