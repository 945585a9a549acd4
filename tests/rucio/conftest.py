"""A real Rucio server on 127.0.0.1 for the whole session, with one posix RSE per site on its Butler root.

``scripts/rucio-server.sh`` makes the server's own venv (var/rucio-venv) on
first use (about a minute, then instant). The database is the test
PostgreSQL server's ``<DATABASE_URL name>_rucio`` (recreated), or
``MSPROC_RUCIO_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

from msproc.lib.rucio.registration import ensure_scope
from msproc.lib.rucio.server import ROOT_PASSWORD, ROOT_USERNAME, RucioTestServer

REPO_ROOT = Path(__file__).resolve().parents[2]
SCOPE = "dp2"
PASSWORD_ENV = "MSPROC_TEST_RUCIO_PASSWORD"


def _rucio_database_url() -> str:
    explicit = os.environ.get("MSPROC_RUCIO_TEST_DATABASE_URL")
    if explicit:
        return explicit
    url = urlparse(os.environ.get("DATABASE_URL", ""))
    if url.scheme.startswith("postgres"):
        return url._replace(path=f"{url.path.rstrip('/')}_rucio").geturl()
    return "postgres://postgres@127.0.0.1:5432/msproc_rucio"


@dataclass
class Sites:
    """The test sites' Butler roots (SLAC is the hub with every raw; IN2P3 starts empty) and their RSEs."""

    roots: dict[str, Path]

    def rse(self, site: str) -> str:
        return f"{site}_BUTLER_DISK"


@pytest.fixture(scope="session")
def rucio_server(tmp_path_factory):
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "rucio-server.sh")], check=True, cwd=REPO_ROOT)
    server = RucioTestServer(work_dir=tmp_path_factory.mktemp("rucio-server"),
                             venv=REPO_ROOT / "var" / "rucio-venv", database_url=_rucio_database_url())
    server.start()
    try:
        ensure_scope(server.client(), SCOPE, "root")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sites(rucio_server, tmp_path_factory) -> Sites:
    import lsst.pipe.base.tests.mocks  # noqa: F401

    from msproc.lib.stack.defaults import populate_hub
    from msproc.lib.stack.repo import create_repo
    from msproc.lib.stack.survey import make_survey

    base = tmp_path_factory.mktemp("sites")
    roots = {"SLAC": base / "slac" / "dp2", "IN2P3": base / "in2p3" / "dp2"}
    populate_hub(create_repo(roots["SLAC"]), make_survey())
    create_repo(roots["IN2P3"])
    result = Sites(roots)
    for site, root in roots.items():
        # identity lfn2pfn maps scope:name to <prefix>/<scope>/<name>: the scope is the repo name.
        rucio_server.add_site_rse(result.rse(site), root.parent)
    rucio_server.connect([result.rse(site) for site in roots])
    return result


@pytest.fixture
def rucio_settings(rucio_server, settings, monkeypatch):
    """Point the backend at the local server (the password through an environment variable)."""
    monkeypatch.setenv(PASSWORD_ENV, ROOT_PASSWORD)
    settings.MSPROC_RUCIO_HOST = rucio_server.host
    settings.MSPROC_RUCIO_ACCOUNT = "root"
    settings.MSPROC_RUCIO_AUTH_TYPE = "userpass"
    settings.MSPROC_RUCIO_USERNAME = ROOT_USERNAME
    settings.MSPROC_RUCIO_PASSWORD_ENV = PASSWORD_ENV
    settings.MSPROC_RUCIO_SCOPE = SCOPE
    return settings
