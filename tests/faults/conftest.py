"""Real processes for the fault tests: Celery workers on this test's database, a private Redis server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "planning" / "templates"


def database_url() -> str:
    """The URL of the database this test uses (pytest-django's test database), for child processes."""
    db = connection.settings_dict
    return (f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
            f"{db['NAME']}")


def process_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a child msproc process: this test's database and broker, no-op backends."""
    env = {**os.environ, "DATABASE_URL": database_url(), "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
           "MSPROC_DATA_DIR": str(data_dir), "DEBUG": "true", "MSPROC_EXECUTION_BACKEND": "noop",
           "MSPROC_TRANSFER_BACKEND": "noop", "MSPROC_HEARTBEAT_SECONDS": "1", "MSPROC_LEASE_SECONDS": "6",
           "MSPROC_RECONCILE_SECONDS": "1"}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, every: float = 0.5, tick: bool = False) -> float:
    """Wait for ``predicate``; with ``tick``, send a reconcile tick each round. Returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if tick:
            from msproc.celery import app

            app.send_task("campaigns.tasks.reconcile")
        if predicate():
            return time.monotonic() - started
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Worker:
    """A real ``celery worker`` process."""

    def __init__(self, env: dict[str, str], log: Path, name: str = "faults") -> None:
        self.env, self.log_path, self.name = env, log, name
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "msproc", "worker", "-P", "threads", "-c", "4",
             "-n", f"{self.name}@%h", "--without-gossip", "--without-mingle", "-l", "INFO"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        return self

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
                self.process.wait()
        if self.process:
            self.log.close()


class RedisServer:
    """A private redis-server on a free port (never the machine's shared one)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.directory), "--save", "", "--appendonly", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        wait_until(lambda: _pings(redis.Redis(port=self.port)), 20, "redis-server to start", every=0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@pytest.fixture
def purge_broker():
    import redis

    redis.Redis.from_url(django_settings.CELERY_BROKER_URL).flushdb()
    yield
    redis.Redis.from_url(django_settings.CELERY_BROKER_URL).flushdb()


@pytest.fixture
def noop_campaign(settings):
    """A started 2x2 campaign on the no-op backends (this process and its children alike)."""
    from campaigns.services import create_campaign_from_spec
    from sites.services import load_sites

    settings.MSPROC_EXECUTION_BACKEND = "noop"
    settings.MSPROC_TRANSFER_BACKEND = "noop"
    settings.MSPROC_LEASE_SECONDS = 6
    load_sites()
    campaign = create_campaign_from_spec(None, (TEMPLATES / "2x2.yaml").read_text())
    campaign.start()
    return campaign


def assert_complete_and_nothing_duplicated(campaign) -> None:
    """The campaign is accepted; one attempt per group and one start each; every movement done in one attempt."""
    from collections import Counter

    from campaigns.models import Group, Job
    from core.models import Event
    from transfers.models import Movement

    campaign.refresh_from_db()
    assert campaign.status == "accepted"
    groups = Group.objects.filter(campaign=campaign)
    assert set(groups.values_list("status", flat=True)) == {"accepted"}
    jobs = Job.objects.filter(group__campaign=campaign)
    assert jobs.count() == groups.count(), "one attempt per group: none lost, none twice"
    assert Counter(Event.objects.filter(content_type__model="job", verb="start").values_list(
        "object_id", flat=True)) == Counter({pk: 1 for pk in jobs.values_list("pk", flat=True)})
    movements = Movement.objects.filter(campaign=campaign)
    assert set(movements.values_list("status", flat=True)) == {"done"}
    assert set(movements.values_list("attempts", flat=True)) == {1}
    assert Event.objects.filter(content_type__model="movement", verb="finish").count() == movements.count()
    assert not movements.exclude(holder="").exists() and not jobs.exclude(holder="").exists()
