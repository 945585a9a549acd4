#!/usr/bin/env bash
# The production set of msproc processes on this machine, each supervised by Debian's supervisor
# (restarted automatically when it dies): gunicorn (web, static files by WhiteNoise), Celery workers,
# one Celery beat and, unless DATABASE_URL / CELERY_BROKER_URL name existing servers, PostgreSQL
# and Redis. Configuration comes from the environment (docs/configuration.md, docs/deployment.md).
#
#   bash scripts/serve.sh [start]    install what is missing, migrate, collect static files, start
#   bash scripts/serve.sh stop       stop every process (workers finish their tasks first)
#   bash scripts/serve.sh status     supervisorctl status
#   bash scripts/serve.sh config     write the supervisor configuration only and print its path
#
# MSPROC_ROLES picks the processes of this machine (default: all of them on one machine), e.g.
# "web beat" on the front machine and "worker" on each worker machine (docs/deployment.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ACTION=${1:-start}

SERVE_DIR=${MSPROC_SERVE_DIR:-$ROOT/var/serve}
ROLES=" ${MSPROC_ROLES:-postgres redis web worker beat} "
BIND=${MSPROC_BIND:-127.0.0.1:8000}
WEB_WORKERS=${MSPROC_WEB_WORKERS:-$(( $(nproc) * 2 + 1 ))}
WEB_THREADS=${MSPROC_WEB_THREADS:-1}
WORKERS=${MSPROC_WORKERS:-1}                       # worker processes (supervisor programs) on this machine
CONCURRENCY=${MSPROC_WORKER_CONCURRENCY:-$(nproc)} # task slots per worker
POOL=${MSPROC_WORKER_POOL:-prefork}
PG_PORT=${MSPROC_PG_PORT:-5433}
REDIS_PORT=${MSPROC_REDIS_PORT:-6380}
CONF=$SERVE_DIR/supervisord.conf
SOCK=$SERVE_DIR/supervisor.sock

has_role() { [[ "$ROLES" == *" $1 "* ]]; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# PostgreSQL and Redis run here only when no server is named; the URLs then point at them.
if [ -z "${DATABASE_URL:-}" ]; then
  export DATABASE_URL=postgres://msproc@127.0.0.1:$PG_PORT/msproc
else
  ROLES=${ROLES/ postgres / }
fi
if [ -z "${CELERY_BROKER_URL:-}" ]; then
  export CELERY_BROKER_URL=redis://127.0.0.1:$REDIS_PORT/0
else
  ROLES=${ROLES/ redis / }
fi

write_config() {
  mkdir -p "$SERVE_DIR/log"
  local venv=$1 python=$1/bin/python
  {
    cat <<EOF
; Written by scripts/serve.sh: edit the environment, not this file.
[unix_http_server]
file=$SOCK
chmod=0700

[supervisord]
logfile=$SERVE_DIR/log/supervisord.log
pidfile=$SERVE_DIR/supervisord.pid
childlogdir=$SERVE_DIR/log
directory=$ROOT

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$SOCK
EOF
    if has_role postgres; then
      local bin
      bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
      cat <<EOF

[program:postgres]
command=$bin/postgres -D $SERVE_DIR/postgres -p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$SERVE_DIR
user=postgres
priority=10
autorestart=true
stopsignal=INT
stopwaitsecs=60
redirect_stderr=true
stdout_logfile=$SERVE_DIR/log/postgres.log
EOF
    fi
    if has_role redis; then
      cat <<EOF

[program:redis]
command=$(command -v redis-server) --bind 127.0.0.1 --port $REDIS_PORT --dir $SERVE_DIR/redis --appendonly yes
priority=10
autorestart=true
redirect_stderr=true
stdout_logfile=$SERVE_DIR/log/redis.log
EOF
    fi
    if has_role web; then
      cat <<EOF

[program:web]
command=$venv/bin/gunicorn msproc.wsgi:application --bind $BIND --workers $WEB_WORKERS --threads $WEB_THREADS --timeout 120 --graceful-timeout 30 --access-logfile -
priority=20
autorestart=true
startretries=100
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=$SERVE_DIR/log/web.log
EOF
    fi
    if has_role worker; then
      cat <<EOF

[program:worker]
; A dead worker (killed, out of memory, or the kombu error after broker restarts) is started again.
command=$python -m celery -A msproc worker -P $POOL -c $CONCURRENCY -n worker%(process_num)d@%%h -l INFO --without-gossip --without-mingle
process_name=%(program_name)s-%(process_num)d
numprocs=$WORKERS
priority=30
autorestart=true
startretries=100
startsecs=5
stopsignal=TERM
stopwaitsecs=600
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=$SERVE_DIR/log/%(program_name)s-%(process_num)d.log
EOF
    fi
    if has_role beat; then
      cat <<EOF

[program:beat]
; Exactly one beat in the whole deployment (it only sends the reconcile ticks; their work is singleton-locked).
command=$python -m celery -A msproc beat -l INFO --pidfile=
priority=40
autorestart=true
startretries=100
startsecs=5
redirect_stderr=true
stdout_logfile=$SERVE_DIR/log/beat.log
EOF
    fi
  } > "$CONF"
}

init_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [ ! -s "$SERVE_DIR/postgres/PG_VERSION" ]; then
    echo "== creating a PostgreSQL cluster in $SERVE_DIR/postgres (port $PG_PORT)"
    mkdir -p "$SERVE_DIR/postgres"
    chown postgres "$SERVE_DIR/postgres" "$SERVE_DIR"
    chmod 700 "$SERVE_DIR/postgres"
    as_root runuser -u postgres -- "$bin/initdb" -D "$SERVE_DIR/postgres" -U postgres --auth-local=peer \
      --auth-host=trust >/dev/null
  fi
}

wait_for() {  # wait_for NAME COMMAND...: up to 60 s
  local name=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "$name did not come up" >&2; return 1
}

supervisorctl_() { supervisorctl -c "$CONF" "$@"; }

start() {
  command -v supervisord >/dev/null 2>&1 || { echo "== installing supervisor (apt)"; apt_install supervisor; }
  if has_role postgres && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then apt_install postgresql; fi
  if has_role redis && ! command -v redis-server >/dev/null 2>&1; then apt_install redis-server; fi
  local venv=${MSPROC_VENV:-}
  if [ -z "$venv" ]; then bash scripts/venv.sh; venv=$ROOT/.venv; fi
  mkdir -p "$SERVE_DIR/redis"
  has_role postgres && init_postgres
  write_config "$venv"
  # Every program starts at once; those that need the database retry until the migrations below ran.
  if [ -S "$SOCK" ] && supervisorctl_ pid >/dev/null 2>&1; then
    supervisorctl_ reread >/dev/null && supervisorctl_ update
  else
    supervisord -c "$CONF"
  fi
  if has_role postgres; then
    wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p "$PG_PORT"
    runuser -u postgres -- psql -h "$SERVE_DIR" -p "$PG_PORT" -tAc "select 1 from pg_roles where rolname='msproc'" \
      | grep -q 1 || runuser -u postgres -- createuser -h "$SERVE_DIR" -p "$PG_PORT" msproc
    runuser -u postgres -- psql -h "$SERVE_DIR" -p "$PG_PORT" -tAc "select 1 from pg_database where datname='msproc'" \
      | grep -q 1 || runuser -u postgres -- createdb -h "$SERVE_DIR" -p "$PG_PORT" -O msproc msproc
  fi
  has_role redis && wait_for Redis redis-cli -p "$REDIS_PORT" ping
  if has_role web && [ "${MSPROC_MIGRATE:-1}" = 1 ]; then
    "$venv/bin/python" manage.py migrate --noinput
    "$venv/bin/python" manage.py collectstatic --noinput -v 0
    supervisorctl_ restart web >/dev/null
  fi
  supervisorctl_ status || true
  echo "supervisor: $CONF (logs in $SERVE_DIR/log); stop with: bash scripts/serve.sh stop"
}

case "$ACTION" in
  start) start ;;
  stop) if [ -S "$SOCK" ]; then supervisorctl_ shutdown; fi ;;
  status) supervisorctl_ status ;;
  config) write_config "${MSPROC_VENV:-$ROOT/.venv}"; echo "$CONF" ;;
  *) echo "usage: $0 [start|stop|status|config]" >&2; exit 2 ;;
esac
