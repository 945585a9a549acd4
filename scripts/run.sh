#!/usr/bin/env bash
# The main job on the embedded default, on a fresh machine: SQLite for msproc and for the Celery broker
# (no server to install), four local sites with real Butler repositories. It migrates, loads the sites,
# creates each site's repository (the hub gets the synthetic survey), starts a Celery worker with beat,
# runs the 2x4 campaign to the end (pipetask per group, Butler transfers per movement), checks every
# site's repository against the plan, then serves the UI on 127.0.0.1:8000 (MSPROC_SERVE=0: stop instead).
# SPEC=path/to/spec.yaml runs another campaign; RINSE=1 rebuilds the repositories from scratch first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
export DEBUG=${DEBUG:-true}
export MSPROC_DATA_DIR=${MSPROC_DATA_DIR:-$PWD/var}
mkdir -p "$MSPROC_DATA_DIR"
manage() { .venv/bin/python manage.py "$@"; }

manage migrate --no-input -v0
manage load_sites
manage setup_sites ${RINSE:+--rinse}
manage load_templates

.venv/bin/celery -A msproc worker -B -P threads -c 3 -l INFO --logfile "$MSPROC_DATA_DIR/worker.log" \
  --schedule "$MSPROC_DATA_DIR/celerybeat-schedule" &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null || true' EXIT
echo "== celery worker with beat running (log: $MSPROC_DATA_DIR/worker.log)"

manage run_campaign "${SPEC:-planning/templates/2x4.yaml}"

if [ "${MSPROC_SERVE:-1}" != 0 ]; then
  echo "== serving the UI on http://127.0.0.1:8000/ (create a login with: .venv/bin/python manage.py createsuperuser)"
  manage runserver --noreload 127.0.0.1:8000
else
  echo "== done; to look at it: DEBUG=true MSPROC_DATA_DIR=$MSPROC_DATA_DIR .venv/bin/python manage.py createsuperuser, then"
  echo "   DEBUG=true MSPROC_DATA_DIR=$MSPROC_DATA_DIR .venv/bin/python manage.py runserver 127.0.0.1:8000"
fi
