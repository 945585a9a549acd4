#!/usr/bin/env bash
# Create the Rucio server's own virtual environment at var/rucio-venv (once).
#
# The rucio server pins SQLAlchemy and urllib3 below what the LSST stack needs,
# so it cannot live in .venv; only rucio-clients is installed there. The test
# fixture (tests/rucio/conftest.py) runs the server and the conveyor daemons
# from this venv. Fast and quiet when the venv exists with the wanted version.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${MSPROC_RUCIO_VENV:-var/rucio-venv}
WANT=${MSPROC_RUCIO_SERVER_VERSION:-41.5.1}
stamp="$VENV/.rucio-version"
if [ -x "$VENV/bin/gunicorn" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$WANT" ]; then
  exit 0
fi
echo "== creating the Rucio server venv at $VENV (rucio $WANT)"
mkdir -p "$(dirname "$VENV")"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "rucio[postgresql]==$WANT" gunicorn 2>&1 \
  | grep -v '^WARNING: Location' || true
"$VENV/bin/python" -c 'import importlib.util as u, sys; sys.exit(0 if all(map(u.find_spec, ("rucio.daemons", "psycopg", "flask"))) else "rucio server install incomplete")'
echo "$WANT" > "$stamp"
