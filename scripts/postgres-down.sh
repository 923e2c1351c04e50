#!/usr/bin/env bash
# Stop the throwaway PostgreSQL cluster started by postgres-up.sh.
set -euo pipefail
PORT="${ORDERBRIDGE_PG_PORT:-55439}"
DATA="/tmp/orderbridge-pg-${PORT}"
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -f "$DATA/PG_VERSION" ] || exit 0
runuser -u postgres -- "$bindir/pg_ctl" -D "$DATA" -m fast stop
