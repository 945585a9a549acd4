"""Rinse-and-repeat and repository set-up delete only repositories msproc created under MSPROC_SITES_DIR."""

from __future__ import annotations

import pytest

from sites.models import ButlerRepo
from sites.services import setup_local_sites
from stack.paths import MARKER_FILE
from tests.factories import ButlerRepoFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sites_dir(settings, tmp_path):
    settings.MSPROC_SITES_DIR = tmp_path / "sites"
    settings.MSPROC_REPO_NAME = "dp2"
    return tmp_path / "sites"


def _precious(directory):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "precious.txt").write_text("not msproc's")
    return directory / "precious.txt"


@pytest.mark.parametrize("status", ["tearing_down", "failed", "absent"])
def test_it_never_deletes_a_root_outside_the_sites_dir(sites_dir, tmp_path, status):
    precious = _precious(tmp_path / "any" / "dir")
    repo = ButlerRepoFactory(site=SiteFactory(code="LANCS"), name="dp2", root_uri=str(precious.parent),
                             status=status)
    outcome = setup_local_sites(rinse=True)
    assert precious.exists()
    assert "not under" in outcome["LANCS"]
    repo.refresh_from_db()
    assert repo.status == "failed" and "not under" in repo.last_error


@pytest.mark.parametrize("root", ["{sites}/../elsewhere", "{sites}/link/dp2", "{sites}"])
def test_it_never_deletes_through_dotdot_symlinks_or_the_sites_dir_itself(sites_dir, tmp_path, root):
    precious = _precious(tmp_path / "elsewhere")
    sites_dir.mkdir(exist_ok=True)
    (sites_dir / "link").symlink_to(tmp_path / "elsewhere")
    ButlerRepoFactory(site=SiteFactory(code="RAL"), name="dp2", root_uri=root.format(sites=sites_dir),
                      status="tearing_down")
    setup_local_sites()
    assert precious.exists()
    assert (sites_dir / "link").is_symlink()


def test_it_refuses_a_directory_under_the_sites_dir_that_it_did_not_create(sites_dir):
    precious = _precious(sites_dir / "LANCS" / "dp2")
    repo = ButlerRepoFactory(site=SiteFactory(code="LANCS"), name="dp2", root_uri=str(precious.parent),
                             status="failed")
    outcome = setup_local_sites()
    assert precious.exists()
    assert "not created by msproc" in outcome["LANCS"]
    assert ButlerRepo.objects.get(pk=repo.pk).status == "failed"


def test_rinse_deletes_and_rebuilds_a_repository_it_created(sites_dir):
    site = SiteFactory(code="LANCS")
    repo = ButlerRepoFactory(site=site, name="dp2", root_uri=str(sites_dir / "LANCS" / "dp2"), status="absent")
    assert setup_local_sites() == {"LANCS": "created"}
    root = sites_dir / "LANCS" / "dp2"
    assert (root / MARKER_FILE).is_file() and (root / "butler.yaml").exists()
    (root / "leftover").write_text("from the first build")
    assert setup_local_sites(rinse=True) == {"LANCS": "created"}
    assert not (root / "leftover").exists()
    assert ButlerRepo.objects.get(pk=repo.pk).status == "ready"
