#!/usr/bin/env bash
# Run lint and the format check, the migration drift check and the whole test
# suite on a real PostgreSQL:
# DATABASE_URL when set, else 127.0.0.1:5432 when it answers, else a throwaway
# local cluster (installing Debian's postgresql when missing). Extra arguments go
# to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

reachable() { "$PY" -c "import socket,sys; socket.create_connection(('$1', $2), 1)" 2>/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  echo "installing $* with apt"
  as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

if [ -z "${DATABASE_URL:-}" ]; then
  if reachable 127.0.0.1 5432; then
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/controlplane
  else
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    PGTMP=$(mktemp -d /tmp/controlplane-pg.XXXXXX)
    PGPORT=55432
    # postgres refuses to run as root: run the throwaway cluster as `postgres`.
    RUN=()
    if [ "$(id -u)" = 0 ]; then chown postgres "$PGTMP"; RUN=(runuser -u postgres --); fi
    "${RUN[@]}" "$PGBIN/initdb" -D "$PGTMP/data" -A trust -U postgres >/dev/null
    "${RUN[@]}" "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/log" -w \
      -o "-p $PGPORT -k $PGTMP -c listen_addresses=127.0.0.1" start >/dev/null
    trap '"${RUN[@]}" "$PGBIN/pg_ctl" -D "$PGTMP/data" -m fast stop >/dev/null; rm -rf "$PGTMP"' EXIT
    export DATABASE_URL=postgres://postgres@127.0.0.1:$PGPORT/controlplane
    echo "started a throwaway PostgreSQL on 127.0.0.1:$PGPORT"
  fi
fi

# Redis backs the cross-process tests; the suite empties this database (db 15)
# at its start, so point REDIS_TEST_URL only at a database kept for tests.
if [ -z "${REDIS_TEST_URL:-}" ]; then
  if ! reachable 127.0.0.1 6379; then
    command -v redis-server >/dev/null || apt_install redis-server
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 50); do reachable 127.0.0.1 6379 && break; sleep 0.1; done
  fi
  export REDIS_TEST_URL=redis://127.0.0.1:6379/15
fi

# Debian's chromium drives the browser tests (never a downloaded browser build).
command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || apt_install chromium

echo "database: ${DATABASE_URL##*@}  redis: $REDIS_TEST_URL"
"$PY" -m ruff check .
"$PY" -m ruff format --check . >/dev/null || { "$PY" -m ruff format --check . ; echo "run ruff format" >&2; exit 1; }
"$PY" -W ignore::RuntimeWarning manage.py makemigrations --check --dry-run >/dev/null || {
  echo "models changed without a migration: run makemigrations" >&2; exit 1; }
"$PY" -m pytest --create-db "$@"
