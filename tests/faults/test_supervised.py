"""The production deployment (scripts/serve.sh under Debian's supervisor) on this test's database and a private
Redis: a killed worker is restarted by itself, a stopped worker shows the liveness banner, and a campaign
completes across two broker restarts with nothing lost or duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from django.urls import reverse

from campaigns.liveness import liveness
from campaigns.models import Campaign, Heartbeat

from .conftest import ROOT, RedisServer, assert_complete_and_nothing_duplicated, process_env, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class Deployment:
    """``scripts/serve.sh`` with the worker and beat roles (the web is not needed here)."""

    def __init__(self, tmp_path, broker_url: str) -> None:
        self.env = process_env(tmp_path / "data", CELERY_BROKER_URL=broker_url,
                               MSPROC_SERVE_DIR=str(tmp_path / "serve"), MSPROC_ROLES="worker beat",
                               MSPROC_VENV=str(ROOT / ".venv"),
                               MSPROC_WORKER_POOL="threads", MSPROC_WORKER_CONCURRENCY="2")

    def serve(self, *args: str) -> str:
        result = subprocess.run(["bash", str(ROOT / "scripts" / "serve.sh"), *args], env=self.env, cwd=ROOT,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 or args[0] == "status", result.stdout + result.stderr
        return result.stdout

    def ctl(self, *args: str) -> str:
        conf = os.path.join(self.env["MSPROC_SERVE_DIR"], "supervisord.conf")
        return subprocess.run(["supervisorctl", "-c", conf, *args], capture_output=True, text=True,
                              timeout=120).stdout


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def deployment(tmp_path, redis_server, settings):
    settings.CELERY_BROKER_URL = redis_server.url
    deployment = Deployment(tmp_path, redis_server.url)
    deployment.serve("start")
    yield deployment
    deployment.serve("stop")


def live_worker() -> Heartbeat | None:
    return next(iter(liveness().alive_workers), None)


def test_the_deployment_restarts_a_killed_worker_and_the_banner_shows_a_stopped_one(deployment, settings,
                                                                                    staff_user, client):
    settings.MSPROC_LIVENESS_SECONDS = 5
    settings.MSPROC_TICK_STALE_SECONDS = 5
    wait_until(lambda: live_worker() is not None and liveness().ok, 60, "a worker, beat and ticks")
    first = live_worker()
    assert deployment.ctl("pid", "worker:worker-0").strip() == str(first.pid)

    os.kill(first.pid, signal.SIGKILL)
    wait_until(lambda: (live_worker() or first).pid != first.pid, 60, "supervisor to start a new worker")
    assert deployment.ctl("pid", "worker:worker-0").strip() == str(live_worker().pid), "supervisor's own child"

    deployment.ctl("stop", "worker:*")
    client.force_login(staff_user)
    wait_until(lambda: not liveness().ok, 30, "the liveness to notice the stopped worker")
    assert any(problem.startswith("no worker has reported") for problem in liveness().problems)
    page = client.get(reverse("home")).content.decode()
    assert 'id="liveness-banner"' in page and "no worker has reported" in page

    deployment.ctl("start", "worker:*")
    wait_until(lambda: liveness().ok, 60, "the banner to clear")
    assert 'id="liveness-banner"' not in client.get(reverse("home")).content.decode()


def test_a_campaign_completes_across_two_broker_restarts(deployment, redis_server, noop_campaign):
    campaign = noop_campaign
    wait_until(lambda: live_worker() is not None, 60, "a worker")
    for restart in (1, 2):
        redis_server.stop()
        time.sleep(3)  # down for a while: ticks and tasks fail meanwhile
        redis_server.start()
        wait_until(lambda: live_worker() is not None, 60, f"a worker after broker restart {restart}")
    wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status != "running", 180, "the campaign to finish",
               every=1)
    assert_complete_and_nothing_duplicated(campaign)
    assert liveness().alive_workers, "a worker is (again) alive"
