"""The processes bench/orchestration_scale.py drives: a real Celery worker, a sampler of its connections and
memory, and a stand-in for beat that sends the reconcile tick.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CELERY = str(Path(PYTHON).with_name("celery"))

WORKER_APP = "msproc-worker"



class Worker:
    """A ``celery -A msproc worker`` subprocess: started, pinged until ready, stopped by its pid."""

    def __init__(self, env: dict[str, str], concurrency: int, log_path: Path) -> None:
        self.hostname = f"msproc-bench-{os.getpid()}@localhost"
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [CELERY, "-A", "msproc", "worker", "--pool", "prefork", "--concurrency", str(concurrency),
             "--loglevel", "WARNING", "--hostname", self.hostname, "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 90.0) -> None:
        from msproc.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited with {self.process.returncode}; see {self.log.name}")
            if app.control.ping(destination=[self.hostname], timeout=0.5):
                return
        raise RuntimeError(f"the worker did not answer within {timeout} s; see {self.log.name}")

    def processes(self) -> list[Any]:
        import psutil

        try:
            main = psutil.Process(self.process.pid)
            return [main, *main.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def peak_rss_mb(self) -> tuple[float, float]:
        """Return (largest VmHWM of one worker process, sum of VmHWM over them) in MB."""
        peaks = []
        for proc in self.processes():
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
            except OSError:
                continue
        return (max(peaks) if peaks else 0.0, sum(peaks))

    def idle(self) -> bool:
        from msproc.celery import app

        inspect = app.control.inspect(destination=[self.hostname], timeout=1.0)
        active = inspect.active() or {}
        reserved = inspect.reserved() or {}
        with app.connection_for_write() as conn:
            queued = conn.default_channel.client.llen("celery")
        return not any(active.values()) and not any(reserved.values()) and not queued

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm shutdown of the worker we started
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Sampler(threading.Thread):
    """Samples database connections and the worker's RSS every ``period`` seconds, keeping the maxima."""

    def __init__(self, args: argparse.Namespace, worker: Worker, period: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.dsn = f"{args.postgres.rstrip('/')}/{args.database}"
        self.database = args.database
        self.worker = worker
        self.period = period
        self.stop_event = threading.Event()
        self.max_worker_connections = 0
        self.max_connections = 0
        self.max_worker_rss_mb = 0.0

    def run(self) -> None:
        import psutil
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True, application_name="msproc-bench-sampler") as conn:
            while not self.stop_event.is_set():
                worker, everyone = conn.execute(
                    "SELECT count(*) FILTER (WHERE application_name = %s), count(*) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()", [WORKER_APP, self.database]).fetchone()
                self.max_worker_connections = max(self.max_worker_connections, worker)
                self.max_connections = max(self.max_connections, everyone)
                rss = 0
                for proc in self.worker.processes():
                    try:
                        rss += proc.memory_info().rss
                    except psutil.NoSuchProcess:
                        continue
                self.max_worker_rss_mb = max(self.max_worker_rss_mb, rss / 2**20)
                self.stop_event.wait(self.period)

    def stop(self) -> None:
        self.stop_event.set()
        self.join()


class Beat(threading.Thread):
    """Sends the reconcile task every ``period`` seconds, as the beat entry does."""

    def __init__(self, period: float) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.stop_event = threading.Event()

    def run(self) -> None:
        from msproc.celery import app

        while not self.stop_event.is_set():
            app.send_task("campaigns.tasks.reconcile", expires=self.period * 0.9)
            self.stop_event.wait(self.period)

    def stop(self) -> None:
        self.stop_event.set()
        self.join()
