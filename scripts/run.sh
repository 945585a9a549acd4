#!/usr/bin/env bash
# The embedded default on a fresh machine: SQLite, a broker on SQLite, four local sites.
# Migrates, loads the sites and serves the UI on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
export DEBUG=${DEBUG:-true}
.venv/bin/python manage.py migrate --no-input
.venv/bin/python manage.py load_sites
exec .venv/bin/python manage.py runserver 127.0.0.1:8000
