"""A real Rucio server on 127.0.0.1 for the whole session, with one posix RSE per site on its Butler root.

``scripts/rucio-server.sh`` makes the server's own venv (var/rucio-venv) on
first use (about a minute, then instant). The database is the test
PostgreSQL server's ``<DATABASE_URL name>_rucio`` (recreated), or
``MSPROC_RUCIO_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.rucio.server import ROOT_PASSWORD, ROOT_USERNAME, RucioTestServer
from transfers.backends.rucio.registration import ensure_scope

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
    """The test sites' Butler roots and their RSEs.

    SLAC is the hub with every raw and the defaults; IN2P3 starts with the instrument and skymap records
    only, as ``sites.services.setup_local_sites`` makes a non-hub site.
    """

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

    from stack.defaults import populate_hub
    from stack.repo import create_repo, insert_instrument, insert_skymap
    from stack.survey import make_survey

    base = tmp_path_factory.mktemp("sites")
    roots = {"SLAC": base / "slac" / "dp2", "IN2P3": base / "in2p3" / "dp2"}
    survey = make_survey()
    populate_hub(create_repo(roots["SLAC"]), survey)
    destination = create_repo(roots["IN2P3"])
    insert_instrument(destination, survey)
    insert_skymap(destination, survey)
    result = Sites(roots)
    for site, root in roots.items():
        # identity lfn2pfn maps scope:name to <prefix>/<scope>/<name>: the scope is the repo name.
        rucio_server.add_site_rse(result.rse(site), root.parent)
    rucio_server.connect([result.rse(site) for site in roots])
    return result


def rucio_test_settings(server: RucioTestServer) -> dict[str, str]:
    """The Django settings that point the backend at ``server`` (the password comes from PASSWORD_ENV)."""
    return {"MSPROC_RUCIO_HOST": server.host, "MSPROC_RUCIO_ACCOUNT": "root", "MSPROC_RUCIO_AUTH_TYPE": "userpass",
            "MSPROC_RUCIO_USERNAME": ROOT_USERNAME, "MSPROC_RUCIO_PASSWORD_ENV": PASSWORD_ENV,
            "MSPROC_RUCIO_SCOPE": SCOPE}


@contextmanager
def rucio_configured(server: RucioTestServer):
    """Point the backend at ``server`` for a block (for fixtures wider than a test)."""
    from django.test import override_settings

    with pytest.MonkeyPatch.context() as patch, override_settings(**rucio_test_settings(server)):
        patch.setenv(PASSWORD_ENV, ROOT_PASSWORD)
        yield


@pytest.fixture
def rucio_settings(rucio_server, settings, monkeypatch):
    """Point the backend at the local server (the password through an environment variable)."""
    monkeypatch.setenv(PASSWORD_ENV, ROOT_PASSWORD)
    for name, value in rucio_test_settings(rucio_server).items():
        setattr(settings, name, value)
    return settings


@contextmanager
def counting_rucio_requests():
    """Count the REST requests (token requests left out) rucio-clients sends inside the block, by "METHOD /path"."""
    from urllib.parse import urlparse as parse

    from rucio.client.baseclient import BaseClient

    counted: Counter[str] = Counter()
    send = BaseClient._send_request

    def counting(self, url, method, *args, **kwargs):
        if not kwargs.get("get_token"):
            counted[f"{getattr(method, 'value', method)} {parse(url).path}"] += 1
        return send(self, url, method, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_send_request", counting)
        yield counted
