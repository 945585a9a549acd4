"""A fake PanDA server for the session, the backend pointed at it, and a mock Butler repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.panda.fake_server import FakePandaServer

TOKEN = "eyJ-fake-panda-token-never-to-be-logged-0123456789"


@pytest.fixture(scope="session", autouse=True)
def _restore_environment():
    """panda-client is configured through os.environ: give it back as it was."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def fake_panda() -> FakePandaServer:
    server = FakePandaServer(token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def panda(fake_panda: FakePandaServer, settings, tmp_path: Path) -> FakePandaServer:
    """The fake server, reachable and with its call log cleared, and settings pointing at it."""
    if fake_panda._server is None:
        fake_panda.start()
    fake_panda.reset_calls()
    fake_panda.tasks_after_submit = False
    fake_panda.feed_failure = None
    fake_panda.age(86400)  # earlier tests' tasks stay out of this test's change feed
    token_file = tmp_path / "panda-token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    settings.MSPROC_PANDA_URL = fake_panda.url
    settings.MSPROC_PANDA_TOKEN_FILE = str(token_file)
    settings.MSPROC_PANDA_AUTH_VO = "Rubin"
    settings.MSPROC_PANDA_VERIFY_HOST = False
    settings.MSPROC_PANDA_MONITOR_URL = "https://panda-mon.example.org"
    settings.DATA_DIR = tmp_path  # attempts work under DATA_DIR/campaigns (check_submission_paths)
    for name in ("PANDA_AUTH_ID_TOKEN", "OIDC_AUTH_ID_TOKEN"):
        os.environ.pop(name, None)
    return fake_panda


@pytest.fixture(scope="session")
def hub_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mock Butler repository with raws and defaults (step1 of the mock pipeline can be planned)."""
    from stack.defaults import populate_hub
    from stack.repo import create_repo
    from stack.survey import DEFAULT_TRACTS as TRACTS
    from stack.survey import make_survey

    root = tmp_path_factory.mktemp("panda-hub") / "repo"
    # One tract, one band: step1 of visit 1 plans 4 quanta; a bigger survey only slows the fixture.
    populate_hub(create_repo(root), make_survey(TRACTS[:1], visits_per_tract=1, boundary_pairs=(), bands=("g",)))
    return root
