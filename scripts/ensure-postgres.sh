#!/usr/bin/env bash
# Makes sure PostgreSQL answers on 127.0.0.1:5432 (the tests create and drop their own databases there).
set -euo pipefail
HOST=${PGHOST:-127.0.0.1}
PORT=${PGPORT:-5432}
ready() { pg_isready -q -h "$HOST" -p "$PORT" 2>/dev/null; }
if ready; then echo "postgres: up on $HOST:$PORT"; exit 0; fi
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "postgres: not installed; installing Debian's postgresql"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
echo "postgres: starting cluster $version/main"
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do ready && break; sleep 1; done
ready || { echo "postgres: did not come up on $HOST:$PORT" >&2; exit 1; }
# Local trust auth, as on this machine's cluster, for the postgres role the tests use.
psql -h "$HOST" -p "$PORT" -U postgres -tAc "select 1" >/dev/null
echo "postgres: up on $HOST:$PORT"
