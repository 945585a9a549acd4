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
