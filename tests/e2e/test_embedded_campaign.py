"""The embedded default end to end: real Butler repositories, pipetask, Butler transfers, and a real Celery
worker process on Redis and PostgreSQL.

A 2-site campaign (SLAC hub + IN2P3, one tract each) runs with one injected failure that its ErrorRule
retries; the worker is killed while a group runs and a new one takes over; afterwards every site holds
exactly what the plan says, and rinse-and-repeat leaves no trace of the campaign's data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from campaigns.models import Campaign, ErrorRule, Group, Job
from campaigns.services import create_campaign_from_spec
from campaigns.verification import verify_campaign
from core.models import Event
from sites.models import ButlerRepo, Site
from sites.services import load_sites, setup_local_sites
from transfers.models import Movement, Replica

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "planning" / "templates" / "2x2.yaml").read_text()
TIMEOUT = 600

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def data_dir(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    settings.MSPROC_SITES_DIR = tmp_path / "sites"
    settings.MSPROC_TAPE_DIR = tmp_path / "tape"
    settings.MSPROC_EXECUTION_BACKEND = None
    settings.MSPROC_TRANSFER_BACKEND = None
    return tmp_path


class Worker:
    """A real ``celery worker`` process against this test's database and a private Redis database."""

    def __init__(self, data_dir: Path) -> None:
        db = connection.settings_dict
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
                            f"{db['PORT'] or 5432}/{db['NAME']}",
            "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,  # where this test process sends its ticks
            "MSPROC_DATA_DIR": str(data_dir),
            "MSPROC_TAPE_DIR": str(data_dir / "tape"),
            "MSPROC_MOVEMENT_LEASE_SECONDS": "20",
            "DEBUG": "true",
        }
        self.env.pop("MSPROC_EXECUTION_BACKEND", None)
        self.env.pop("MSPROC_TRANSFER_BACKEND", None)
        self.log = open(data_dir / "worker.log", "a")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "msproc", "worker", "-P", "threads", "-c", "3",
             "--without-gossip", "--without-mingle", "-l", "INFO"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def _purge_broker(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def _tick() -> None:
    from msproc.celery import app

    app.send_task("campaigns.tasks.reconcile")


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _tick()
        if predicate():
            return
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_two_site_campaign_runs_end_to_end_through_a_celery_worker(data_dir):
    load_sites()
    setup = setup_local_sites()
    assert setup == {"SLAC": "created", "IN2P3": "created", "LANCS": "created", "RAL": "created"}
    ErrorRule.objects.create(name="mock simulated failure", pattern=r"Simulated failure: task=", action="retry",
                             max_retries=2)
    campaign = create_campaign_from_spec("e2e-2x2", SPEC)
    first_visit = Group.objects.get(step__campaign=campaign, step__name="step1", site__code="SLAC").data_ids["visit"][0]
    campaign.fault_injection = [{"step": "step1", "task": "calibrateImage", "where": f"visit = {first_visit}",
                                 "site": "SLAC", "attempts": [1]}]
    campaign.save(update_fields=["fault_injection"])
    campaign.start()

    worker = Worker(data_dir)
    _purge_broker(worker.env["CELERY_BROKER_URL"])
    worker.start()
    try:
        # Kill the worker while a group runs: the run is detached and a new worker picks up its result.
        _wait(lambda: Job.objects.filter(status="running").exists(), 120, "a running job")
        worker.kill()
        running = list(Job.objects.filter(status="running").values_list("pk", flat=True))
        worker.start()
        _wait(lambda: Campaign.objects.get(pk=campaign.pk).status != "running", TIMEOUT, "the campaign to finish")
    finally:
        worker.stop()

    campaign.refresh_from_db()
    log_tail = (data_dir / "worker.log").read_text()[-3000:]
    assert campaign.status == "accepted", log_tail
    assert set(Job.objects.filter(pk__in=running).values_list("status", flat=True)) <= {
        "accepted", "failed", "reviewable"}, "the runs the dead worker left were picked up"

    # The injected failure was retried by its rule and succeeded; nothing was submitted twice.
    failing = Group.objects.get(step__campaign=campaign, step__name="step1", site__code="SLAC",
                                data_ids__visit__contains=[first_visit])
    # Attempt 1 partly succeeded (the other quanta ran), so it is reviewable rather than failed.
    assert list(failing.jobs.values_list("attempt", "status")) == [(1, "reviewable"), (2, "accepted")]
    assert failing.jobs.get(attempt=1).error_rule.name == "mock simulated failure"
    assert Job.objects.filter(group__campaign=campaign).count() == Group.objects.filter(campaign=campaign).count() + 1
    for job in Job.objects.filter(group__campaign=campaign):
        assert Event.objects.filter(verb="start", object_id=job.pk, content_type__model="job").count() == 1
    assert set(Movement.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"done"}

    # Each site holds exactly what the plan moved there plus what it produced; the hub holds the returns.
    assert verify_campaign(campaign) == []
    tape = data_dir / "tape" / campaign.name
    assert list(tape.glob("*.zip")), "the returned outputs were archived"

    # Rinse-and-repeat: every repository rebuilt from scratch, no trace of the campaign's data.
    outcome = setup_local_sites(rinse=True)
    assert set(outcome.values()) == {"created"}
    from lsst.daf.butler import Butler

    for repo in ButlerRepo.objects.all():
        butler = Butler.from_config(repo.root_uri)
        collections = butler.registry.queryCollections("*")
        assert not [c for c in collections if c.startswith(campaign.output_prefix)], repo
        if not repo.site.is_hub:
            assert not list(butler.registry.queryDatasetTypes()) or not any(
                butler.registry.queryDatasets(dt, collections=["*"]).count() for dt in
                butler.registry.queryDatasetTypes()), repo
    assert not Replica.objects.filter(collection__startswith=campaign.output_prefix).exists()
    assert Site.objects.get(code="SLAC").butler_repos.get().status == "ready"
