#!/usr/bin/env bash
# Set everything up on a fresh machine and run the whole test suite against
# PostgreSQL, with Redis as the Celery broker. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
bash scripts/services.sh
bash scripts/rucio-server.sh   # the Rucio server's own venv (once), for the Rucio backend's tests

export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/msproc}
export CELERY_BROKER_URL=${TEST_CELERY_BROKER_URL:-redis://127.0.0.1:6379/15}
export MSPROC_DATA_DIR=${MSPROC_TEST_DATA_DIR:-$PWD/var/test}
export DEBUG=true

echo "== ruff"
.venv/bin/ruff check .
echo "== migrations are up to date"
.venv/bin/python manage.py makemigrations --check --dry-run
echo "== pytest"
.venv/bin/python -m pytest "$@"
