"""A Butler repository's root cannot be pointed at an arbitrary directory through the API or the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core import roles
from sites.models import ButlerRepo


@pytest.fixture
def sites_dir(settings, tmp_path):
    settings.MSPROC_SITES_DIR = tmp_path / "sites"
    settings.MSPROC_BUTLER_ROOTS = [tmp_path / "facility"]
    settings.MSPROC_BUTLER_URI_PREFIXES = ["s3://rubin-dp2/"]
    (tmp_path / "sites").mkdir()
    return tmp_path / "sites"


@pytest.mark.parametrize("root_uri", [
    "/any/dir", "/etc", "relative/dir", "{sites}/../elsewhere", "{sites}/LANCS/../../x", "file:///etc",
    "file://{sites}/%2e%2e/x", "file://evil.example.org{sites}/LANCS/dp2", "https://internal.example/repo",
    "s3://other-bucket/dp2", "s3://rubin-dp2/a/../../x", "s3://rubin-dp2/%2E%2E/x", "{sites}/LANCS/dp2\x00",
    "{sites}/link-out/dp2",
])
def test_a_site_admin_cannot_patch_a_root_outside_the_allowed_roots(world, client_for, sites_dir, tmp_path,
                                                                   root_uri):
    (tmp_path / "outside").mkdir()
    (sites_dir / "link-out").symlink_to(tmp_path / "outside")
    value = root_uri.format(sites=sites_dir)
    response = client_for(roles.SITE_ADMIN).patch(f"/api/v1/butler-repos/{world.repo.pk}/", {"root_uri": value},
                                                  format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["root_uri"]
    assert ButlerRepo.objects.get(pk=world.repo.pk).root_uri == world.repo.root_uri


@pytest.mark.parametrize("root_uri", ["{sites}/LANCS/dp2", "file://{sites}/LANCS/dp3", "{facility}/repo/main",
                                      "s3://rubin-dp2/repo"])
def test_a_site_admin_may_set_a_root_under_the_configured_roots(world, client_for, sites_dir, tmp_path,
                                                                root_uri):
    value = root_uri.format(sites=sites_dir, facility=tmp_path / "facility")
    response = client_for(roles.SITE_ADMIN).patch(f"/api/v1/butler-repos/{world.repo.pk}/", {"root_uri": value},
                                                  format="json")
    assert response.status_code == 200, response.content
    assert ButlerRepo.objects.get(pk=world.repo.pk).root_uri == value


def test_the_admin_form_refuses_a_root_outside_the_allowed_roots(world, admin_client, sites_dir):
    url = reverse("admin:sites_butlerrepo_change", args=[world.repo.pk])
    response = admin_client.post(url, {"site": world.site.pk, "name": world.repo.name, "root_uri": "/etc",
                                       "registry_url": "", "status": world.repo.status, "last_error": ""})
    assert response.status_code == 200  # the form again, with the error
    assert "is not under an allowed Butler root" in response.content.decode()
    assert ButlerRepo.objects.get(pk=world.repo.pk).root_uri != "/etc"


@pytest.fixture
def two_repos(world, sites_dir):
    """LANCS's repository (the world's) and RAL's, each with a root of its own under the sites directory."""
    from tests.factories import ButlerRepoFactory, SiteFactory

    ButlerRepo.objects.filter(pk=world.repo.pk).update(root_uri=str(sites_dir / "LANCS" / "dp2"))
    ral = ButlerRepoFactory(site=SiteFactory(code="RAL"), root_uri=str(sites_dir / "RAL" / "dp2"), status="ready")
    return ButlerRepo.objects.get(pk=world.repo.pk), ral


@pytest.mark.parametrize("root", ["{sites}/RAL/dp2", "file://{sites}/RAL/dp2", "{sites}/RAL/dp2/inner", "{sites}/RAL",
                                  "{sites}"])
def test_a_root_that_overlaps_another_repository_is_refused_by_the_api(two_repos, client_for, sites_dir, root):
    lancs, ral = two_repos
    response = client_for(roles.SITE_ADMIN).patch(f"/api/v1/butler-repos/{lancs.pk}/",
                                                  {"root_uri": root.format(sites=sites_dir)}, format="json")
    assert response.status_code == 400, response.content
    assert "overlaps the root of dp2@RAL" in response.json()["root_uri"][0]
    assert ButlerRepo.objects.get(pk=lancs.pk).root_uri == lancs.root_uri


def test_a_root_beside_another_repository_is_accepted(two_repos, client_for, sites_dir):
    lancs, _ = two_repos
    response = client_for(roles.SITE_ADMIN).patch(f"/api/v1/butler-repos/{lancs.pk}/",
                                                  {"root_uri": str(sites_dir / "RAL-2" / "dp2")}, format="json")
    assert response.status_code == 200, response.content


def test_the_admin_form_refuses_another_repositorys_root(two_repos, admin_client, sites_dir):
    lancs, ral = two_repos
    url = reverse("admin:sites_butlerrepo_change", args=[lancs.pk])
    response = admin_client.post(url, {"site": lancs.site_id, "name": lancs.name, "root_uri": ral.root_uri,
                                       "registry_url": "", "status": lancs.status, "last_error": ""})
    assert response.status_code == 200
    assert "overlaps the root of dp2@RAL" in response.content.decode()
    assert ButlerRepo.objects.get(pk=lancs.pk).root_uri != ral.root_uri


def test_setup_sites_never_removes_a_root_another_repository_uses(two_repos, sites_dir, settings):
    """Defence in depth: a root saved around the checks (raw SQL, an old row) is left alone, the repo failed."""
    from sites.services import setup_local_sites

    lancs, ral = two_repos
    settings.MSPROC_REPO_NAME = lancs.name
    (sites_dir / "RAL" / "dp2").mkdir(parents=True)
    keep = sites_dir / "RAL" / "dp2" / "gen3.sqlite3"
    keep.write_text("RAL's registry")
    ButlerRepo.objects.filter(pk=lancs.pk).update(root_uri=ral.root_uri, status="failed")
    ButlerRepo.objects.exclude(pk__in=[lancs.pk, ral.pk]).delete()
    outcome = setup_local_sites()
    assert keep.read_text() == "RAL's registry"
    assert outcome["LANCS"].startswith("failed: its root overlaps dp2@RAL")
    assert ButlerRepo.objects.get(pk=lancs.pk).status == "failed"
    assert outcome["RAL"] == "ready"


@pytest.mark.parametrize(("value", "ok"), [
    ("", True), ("postgresql://db.example.org/dp2", True), ("postgresql+psycopg://u@h:5432/dp2", True),
    ("sqlite:////etc/passwd", False), ("javascript:alert(1)", False), ("/var/db", False),
    ("postgresql://h/d\x07b", False),
])
def test_a_registry_url_is_blank_or_postgresql(world, client_for, value, ok):
    response = client_for(roles.SITE_ADMIN).patch(f"/api/v1/butler-repos/{world.repo.pk}/",
                                                  {"registry_url": value}, format="json")
    assert (response.status_code == 200) is ok, response.content
    if not ok:
        assert list(response.json()) == ["registry_url"]
