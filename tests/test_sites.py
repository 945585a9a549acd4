"""Sites: loading the four sites of DOMAIN.md, and the one-hub rule."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from sites.models import ButlerRepo, PandaQueue, Site
from sites.services import load_sites
from tests.factories import SiteFactory


@pytest.mark.django_db
def test_load_sites_creates_the_four_sites_with_queues_and_rses():
    load_sites()
    sites = {s.code: s for s in Site.objects.all()}
    assert set(sites) == {"SLAC", "IN2P3", "LANCS", "RAL"}
    assert [s.code for s in Site.objects.filter(is_hub=True)] == ["SLAC"]
    assert sites["IN2P3"].compute_site == "CC-IN2P3"
    assert sites["LANCS"].raw_rse == "LANCS_RAW_DISK"
    assert sites["RAL"].butler_rse == "RAL_BUTLER_DISK"
    assert sum(s.share for s in sites.values()) == 1
    assert PandaQueue.objects.filter(name="CC-IN2P3_Rubin_8G", memory_gb=8).exists()
    assert PandaQueue.objects.filter(name="SLAC_Rubin_Merge", kind="merge").exists()
    assert ButlerRepo.objects.filter(name="dp2").count() == 4


@pytest.mark.django_db
def test_load_sites_twice_changes_nothing():
    out = StringIO()
    call_command("load_sites", stdout=out)
    assert "created site SLAC" in out.getvalue()
    before = list(Site.objects.values().order_by("code")), PandaQueue.objects.count(), ButlerRepo.objects.count()
    out = StringIO()
    call_command("load_sites", stdout=out)
    assert out.getvalue().strip() == "sites are up to date; nothing changed"
    assert (list(Site.objects.values().order_by("code")), PandaQueue.objects.count(),
            ButlerRepo.objects.count()) == before


@pytest.mark.django_db
def test_load_sites_keeps_an_operators_site_status():
    load_sites()
    Site.objects.get(code="RAL").take_offline(comment="downtime")
    report = load_sites()
    assert not report.changed
    assert Site.objects.get(code="RAL").status == "offline"


@pytest.mark.django_db
def test_load_sites_restores_a_changed_fact():
    load_sites()
    Site.objects.filter(code="LANCS").update(compute_cloud="US")
    report = load_sites()
    assert report.updated == ["site LANCS (compute_cloud)"]


@pytest.mark.django_db
def test_there_is_at_most_one_hub():
    SiteFactory(code="A", is_hub=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        SiteFactory(code="B", is_hub=True)


@pytest.mark.django_db
def test_refreshing_replicas_records_what_a_repository_holds(tmp_path, settings):
    from stack.defaults import populate_hub
    from stack.repo import create_repo
    from stack.survey import make_survey
    from tests.factories import ButlerRepoFactory
    from transfers.models import Replica
    from transfers.tasks import refresh_replicas

    repo = ButlerRepoFactory(root_uri=str(tmp_path / "repo"), status="ready")
    populate_hub(create_repo(repo.root_uri), make_survey())
    assert refresh_replicas() == 1
    raws = Replica.objects.get(butler_repo=repo, dataset_type__name="raw")
    assert (raws.collection, raws.count) == ("MockCam/raw/all", 36)


@pytest.mark.django_db
def test_it_records_what_a_new_repository_holds_with_measured_bytes_when_sites_announce_it(tmp_path):
    from sites.models import ButlerRepo
    from sites.signals import repository_ready
    from stack.defaults import populate_hub
    from stack.repo import create_repo
    from stack.survey import make_survey
    from tests.factories import ButlerRepoFactory
    from transfers.models import Replica

    repo = ButlerRepoFactory(root_uri=str(tmp_path / "repo"), status="ready")
    populate_hub(create_repo(repo.root_uri), make_survey())
    assert not Replica.objects.exists()
    repository_ready.send(sender=ButlerRepo, repo=repo)  # as setup_local_sites does once a repository is ready
    # transfers, connected in its AppConfig.ready(), recorded what the repository holds and its bytes
    raws = Replica.objects.get(butler_repo=repo, dataset_type__name="raw")
    assert (raws.collection, raws.count) == ("MockCam/raw/all", 36)
    on_disk = sum(p.stat().st_size for p in (tmp_path / "repo" / "MockCam" / "raw").rglob("*") if p.is_file())
    assert raws.bytes > 0 and raws.bytes == on_disk
    assert not Replica.objects.filter(butler_repo=repo, bytes=0).exclude(count=0).exists()

