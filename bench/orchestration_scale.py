#!/usr/bin/env python
"""Orchestration at scale: how fast msproc gets N groups of one step running, polled and accepted.

One command (from the repository root, PostgreSQL and Redis running)::

    .venv/bin/python bench/orchestration_scale.py --groups 1000 10000 --summary-groups 1000 100000 \
        --steady-groups 10000 50000

What it does, for each N of ``--groups``:

1. Creates its own database ``msproc_bench`` (dropped first, dropped again at
   the end unless ``--keep-db``) and migrates it with ``manage.py migrate``.
2. Starts a real Celery worker (``celery -A msproc worker``, prefork,
   ``--concurrency``) on Redis database 11 with the no-op execution and
   transfer backends, so orchestration itself is measured. A fresh worker per
   N, so its peak memory belongs to that N.
3. Plans and creates a campaign with ``campaigns.services.create_campaign_from_spec``:
   a generated spec with one wide step (``step1`` of ``mock:drp``) split by
   visit with ``max_size: 1`` over a generated inventory CSV of N visits
   across two tracts at each of the four sites (SLAC hub, IN2P3, LANCS, RAL):
   N groups and the setup movements to the three other sites.
4. Starts it and plays beat: sends ``campaigns.tasks.reconcile`` every
   ``--tick-seconds`` (with ``expires`` at 0.9 of the period, as the beat
   entry does); the worker runs the ticks, the submissions and the movements.
   Measures seconds from start until every group is submitted (running or
   further) and until every group is accepted.
5. Rewinds the campaign's groups and jobs to ``running`` (one UPDATE each;
   then ``VACUUM ANALYZE`` as autovacuum would) and measures one tick over all
   N running groups: in the worker (wall time from sending the task until the
   campaign is accepted), in this process (time, queries) and in this process
   under tracemalloc (peak Python memory: flat in N if the tick streams).
6. Samples ``pg_stat_activity`` (connections of the worker, named
   ``msproc-worker``, and of everyone on the database) and the worker's RSS
   every 50 ms; reports the maxima and the worker's peak RSS (``VmHWM``).

Then, for each M of ``--summary-groups``, bulk-inserts a campaign of M groups
(four steps, four sites, a mix of statuses, one job each) and measures the
median latency of 20 calls of ``campaigns.progress.campaign_summary`` and,
if the API serves it, of ``GET /api/v1/campaigns/{id}/summary/``.

Last, for each N of ``--steady-groups``, bulk-inserts a running campaign of N running groups (four steps,
four sites, one running job each) on ``bench/feed_backend.py``, an execution backend with a change feed
whose attempts run until the bench finishes them, and measures in this process: the first tick (no poll
yet: every job polled), a tick where nothing changed, and ``--steady-ticks`` ticks each after
``--change`` (1 %) of the groups finished: wall time, queries and CPU (client + PostgreSQL backend).

Prints a table and, with ``--json PATH``, writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import asdict, dataclass
from pathlib import Path

from in_process import (  # bench/in_process.py, beside this script
    QueryCounter,
    SteadyFigures,
    SummaryFigures,
    backend_cpu_seconds,
    measure_steady,
    measure_summary,
)
from processes import WORKER_APP, Beat, Sampler, Worker  # bench/processes.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

TRACTS = {9469: "SLAC", 9470: "SLAC", 9948: "IN2P3", 9949: "IN2P3", 9941: "LANCS", 9942: "LANCS", 1: "RAL",
          2: "RAL"}
TARGETS = {
    "submitted_1000": 5.0,
    "tick_10000": 2.0,
    "summary_1000_ms": 30.0,
    "summary_100000_ms": 150.0,
    "steady_50000": 0.5,
}
BENCH_APP = "msproc-bench"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, nargs="*", default=[1000, 10000], help="N groups per run")
    parser.add_argument("--summary-groups", type=int, nargs="*", default=[1000, 100000],
                        help="groups of the bulk-inserted campaigns the summary is measured on")
    parser.add_argument("--steady-groups", type=int, nargs="*", default=[10000, 50000],
                        help="running groups of the bulk-inserted campaigns the steady tick is measured on")
    parser.add_argument("--change", type=float, default=0.01, help="fraction of them finishing per steady tick")
    parser.add_argument("--steady-ticks", type=int, default=5, help="steady ticks measured per size")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL (no database name)")
    parser.add_argument("--database", default="msproc_bench", help="database the bench creates and drops")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/11", help="Celery broker (flushed first)")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--tick-seconds", type=float, default=0.5, help="reconcile period while running")
    parser.add_argument("--summary-calls", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a phase may take")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for inspection")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args()


# ---------------------------------------------------------------------------------------------- environment


def configure_environment(args: argparse.Namespace, data_dir: str) -> dict[str, str]:
    """Set the environment of this process (and return the one of the worker) before Django starts."""
    url = f"{args.postgres.rstrip('/')}/{args.database}"
    common = {
        "DJANGO_SETTINGS_MODULE": "msproc.settings",
        "CELERY_BROKER_URL": args.broker,
        "MSPROC_EXECUTION_BACKEND": "noop",
        "MSPROC_TRANSFER_BACKEND": "noop",
        "MSPROC_DATA_DIR": data_dir,
        "MSPROC_RECONCILE_SECONDS": str(max(args.tick_seconds, 0.5)),
        "DEBUG": "false",  # DEBUG keeps every query in memory: not what production runs
        # DEBUG off needs a real key (msproc refuses to start without one): a throw-away one per run.
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(common, DATABASE_URL=f"{url}?application_name={BENCH_APP}")
    os.environ.pop("MSPROC_NOOP_FAIL", None)
    os.environ.pop("DATABASE_CONN_MAX_AGE", None)
    sys.path.insert(0, str(ROOT))
    worker = {**os.environ, **common, "DATABASE_URL": f"{url}?application_name={WORKER_APP}"}
    return worker


def recreate_database(args: argparse.Namespace, *, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(f"{args.postgres.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{args.database}"')


def migrate(env: dict[str, str]) -> None:
    subprocess.run([PYTHON, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"], env=env, check=True,
                   cwd=ROOT)


# ---------------------------------------------------------------------------------------------- the campaign


def spec_text(name: str) -> str:
    tract_map = "\n".join(f"  {tract}: {site}" for tract, site in TRACTS.items())
    return f"""\
name: {name}
pipeline: mock:drp
hub: SLAC
instrument: MockCam
skymap: mock_skymap
sites: [SLAC, IN2P3, LANCS, RAL]
tract_map:
{tract_map}
inputs:
  collections: [MockCam/raw/all, MockCam/defaults]
  dataset_types: [raw]
defaults:
  - dataset_types: [bias, flat, refcat, fgcm_lookup_table]
    collections: [MockCam/defaults]
stages:
  - {{name: stage1, steps: [step1]}}
steps:
  - {{name: step1, split: {{by: visit, max_size: 1}}, memory_mb: 4000}}
"""


def write_inventory(path: Path, visits: int) -> None:
    tracts = list(TRACTS)
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["visit", "exposure", "band", "tract"])
        for visit in range(1, visits + 1):
            writer.writerow([visit, visit, "gri"[visit % 3], tracts[visit % len(tracts)]])


def group_progress(campaign_id: int) -> tuple[int, int]:
    """Return (groups submitted or further, groups accepted) of a campaign, in one query."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FILTER (WHERE status IN ('running', 'accepted')),"
                       " count(*) FILTER (WHERE status = 'accepted') FROM campaigns_group WHERE campaign_id = %s",
                       [campaign_id])
        return cursor.fetchone()


def rewind_to_running(campaign_id: int) -> None:
    """Put every group and job of a campaign back to running (bench only: no events), then VACUUM ANALYZE."""
    from django.db import connection

    from campaigns.models import Campaign, Group, Job, Step

    Job.objects.filter(group__campaign_id=campaign_id).update(status="running", finished_at=None)
    Group.objects.filter(campaign_id=campaign_id).update(status="running")
    Step.objects.filter(campaign_id=campaign_id).update(status="running")
    Campaign.objects.filter(pk=campaign_id).update(status="running", finished_at=None)
    with connection.cursor() as cursor:
        for table in ("campaigns_job", "campaigns_group", "campaigns_event"):
            cursor.execute(f"VACUUM ANALYZE {table}")


@dataclass
class RunFigures:
    groups: int
    plan_and_create_s: float = 0.0
    submitted_s: float = 0.0
    accepted_s: float = 0.0
    tick_worker_s: float = 0.0
    tick_inprocess_s: float = 0.0
    tick_queries: int = 0
    tick_client_cpu_s: float = 0.0
    tick_server_cpu_s: float = 0.0
    tick_peak_python_mb: float = 0.0
    worker_peak_rss_mb: float = 0.0
    worker_peak_rss_total_mb: float = 0.0
    max_worker_connections: int = 0
    max_connections: int = 0
    events: int = 0
    load_average: float = 0.0


def wait_until(predicate, timeout: float, poll: float = 0.02) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"gave up after {timeout} s")
        time.sleep(poll)
    return time.perf_counter() - start


def run_groups(args: argparse.Namespace, worker_env: dict[str, str], workdir: Path, n: int) -> RunFigures:
    from django.db import connection

    from campaigns.models import Campaign
    from campaigns.orchestration import reconcile
    from campaigns.services import create_campaign_from_spec
    from core.models import Event
    from planning.inventory import TableInventory

    figures = RunFigures(groups=n)
    inventory = workdir / f"visits-{n}.csv"
    write_inventory(inventory, n)
    start = time.perf_counter()
    campaign = create_campaign_from_spec(f"bench-{n}", spec_text(f"bench-{n}"), inventory=TableInventory(inventory))
    figures.plan_and_create_s = time.perf_counter() - start
    assert campaign.groups.count() == n, campaign.groups.count()
    connection.close()

    worker = Worker(worker_env, args.concurrency, workdir / f"worker-{n}.log")
    sampler = Sampler(args, worker)
    try:
        worker.wait_ready()
        sampler.start()
        beat = Beat(args.tick_seconds)
        campaign.start(comment="benchmark")
        t0 = time.perf_counter()
        beat.start()
        submitted_at = accepted_at = None
        try:
            while accepted_at is None:
                running, accepted = group_progress(campaign.pk)
                now = time.perf_counter() - t0
                if submitted_at is None and running >= n:
                    submitted_at = now
                if accepted >= n:
                    accepted_at = now
                if now > args.timeout:
                    raise TimeoutError(f"N={n}: {running} submitted, {accepted} accepted after {now:.0f} s")
                time.sleep(0.02)
            wait_until(lambda: Campaign.objects.filter(pk=campaign.pk, status="accepted").exists(), args.timeout)
        finally:
            beat.stop()
        figures.submitted_s, figures.accepted_s = submitted_at, accepted_at
        wait_until(worker.idle, 120, poll=0.2)

        # One tick over N running groups, in the worker.
        rewind_to_running(campaign.pk)
        connection.close()
        from msproc.celery import app

        start = time.perf_counter()
        app.send_task("campaigns.tasks.reconcile")
        wait_until(lambda: Campaign.objects.filter(pk=campaign.pk, status="accepted").exists(), args.timeout,
                   poll=0.005)
        figures.tick_worker_s = time.perf_counter() - start
        wait_until(worker.idle, 120, poll=0.2)
        figures.worker_peak_rss_mb, figures.worker_peak_rss_total_mb = worker.peak_rss_mb()
    finally:
        sampler.stop()
        worker.stop()
    figures.max_worker_connections = sampler.max_worker_connections
    figures.max_connections = sampler.max_connections

    # The same tick in this process: its time and queries, then its peak Python memory.
    rewind_to_running(campaign.pk)
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        server = backend_cpu_seconds()
        client = time.process_time()
        start = time.perf_counter()
        report = reconcile()
        figures.tick_inprocess_s = time.perf_counter() - start
        figures.tick_client_cpu_s = time.process_time() - client
        figures.tick_server_cpu_s = backend_cpu_seconds() - server
    assert report.jobs_finished == n, report
    figures.tick_queries = counter.count
    rewind_to_running(campaign.pk)
    tracemalloc.start()
    report = reconcile()
    figures.tick_peak_python_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    assert report.jobs_finished == n, report
    figures.events = Event.objects.filter(campaign_id=campaign.pk).count()
    figures.load_average = os.getloadavg()[1]
    return figures


# ---------------------------------------------------------------------------------------------- the summary


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "met" if value <= target else "NOT met"


def print_table(runs: list[RunFigures], summaries: list[SummaryFigures], steadies: list[SteadyFigures],
                args: argparse.Namespace) -> None:
    print()
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
          f"; worker concurrency {args.concurrency}; tick every {args.tick_seconds} s")
    header = ["N groups", "plan+create s", "start->all submitted s", "start->all accepted s", "tick (worker) s",
              "tick (in-process) s", "tick CPU client+server s", "tick queries", "tick peak py MB",
              "worker peak RSS MB (max/sum)", "DB conns worker/all", "events", "load 5 min"]
    rows = [[f"{r.groups:,}", f"{r.plan_and_create_s:.1f}", f"{r.submitted_s:.2f}", f"{r.accepted_s:.2f}",
             f"{r.tick_worker_s:.2f}", f"{r.tick_inprocess_s:.2f}",
             f"{r.tick_client_cpu_s:.2f}+{r.tick_server_cpu_s:.2f}", str(r.tick_queries),
             f"{r.tick_peak_python_mb:.1f}", f"{r.worker_peak_rss_mb:.0f}/{r.worker_peak_rss_total_mb:.0f}",
             f"{r.max_worker_connections}/{r.max_connections}", f"{r.events:,}", f"{r.load_average:.1f}"]
            for r in runs]
    _print_rows(header, rows)
    print()
    header = ["M groups", "insert s", "summary() median ms", "summary() queries", "endpoint median ms"]
    rows = [[f"{s.groups:,}", f"{s.insert_s:.1f}", f"{s.function_median_ms:.1f}", str(s.function_queries),
             f"{s.endpoint_median_ms:.1f}" if s.endpoint_median_ms is not None else s.endpoint_status]
            for s in summaries]
    _print_rows(header, rows)
    print()
    header = ["running groups", "changed per tick", "insert s", "first tick s", "quiet tick s (queries, CPU)",
              "changing tick median / max s", "changing tick queries", "changing tick CPU client+server s"]
    rows = [[f"{s.groups:,}", f"{s.changed_per_tick:,}", f"{s.insert_s:.1f}", f"{s.first_tick_s:.2f}",
             f"{s.quiet_tick_s:.3f} ({s.quiet_tick_queries}, {s.quiet_tick_cpu_s})",
             f"{s.tick_median_s:.3f} / {s.tick_max_s:.3f}", "/".join(map(str, sorted(set(s.tick_queries)))),
             " ".join(s.tick_cpu_s)] for s in steadies]
    _print_rows(header, rows)
    print()
    by_n = {r.groups: r for r in runs}
    by_m = {s.groups: s for s in summaries}
    by_steady = {s.groups: s for s in steadies}
    checks = [
        ("all 1,000 groups submitted", getattr(by_n.get(1000), "submitted_s", None), TARGETS["submitted_1000"], "s"),
        ("one tick over 10,000 running groups (worker)", getattr(by_n.get(10000), "tick_worker_s", None),
         TARGETS["tick_10000"], "s"),
        ("summary at 1,000 groups", _summary_ms(by_m.get(1000)), TARGETS["summary_1000_ms"], "ms"),
        ("summary at 100,000 groups", _summary_ms(by_m.get(100000)), TARGETS["summary_100000_ms"], "ms"),
        ("a tick over 50,000 running groups, 1 % changing (median)", getattr(by_steady.get(50000), "tick_median_s",
                                                                               None), TARGETS["steady_50000"], "s"),
    ]
    _print_rows(["target", "measured", "limit", "verdict"],
                [[name, "-" if value is None else f"{value:.2f} {unit}", f"{limit} {unit}", verdict(value, limit)]
                 for name, value, limit, unit in checks])


def _summary_ms(figures: SummaryFigures | None) -> float | None:
    if figures is None:
        return None
    return figures.endpoint_median_ms if figures.endpoint_median_ms is not None else figures.function_median_ms


def _print_rows(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="msproc-bench-") as tmp:
        workdir = Path(tmp)
        worker_env = configure_environment(args, str(workdir / "data"))
        recreate_database(args)
        try:
            migrate(worker_env)
            import django

            django.setup()
            import redis

            from sites.services import load_sites

            redis.Redis.from_url(args.broker).flushdb()  # the bench's own broker database
            load_sites()
            runs = []
            for n in args.groups:
                runs.append(run_groups(args, worker_env, workdir, n))
                print(f"N={n}: {asdict(runs[-1])}", flush=True)
            summaries = []
            for m in args.summary_groups:
                summaries.append(measure_summary(args, m))
                print(f"M={m}: {asdict(summaries[-1])}", flush=True)
            steadies = []
            for n in args.steady_groups:
                steadies.append(measure_steady(args, n))
                print(f"steady N={n}: {asdict(steadies[-1])}", flush=True)
            print_table(runs, summaries, steadies, args)
            if args.json:
                args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                 "machine": {"cpus": os.cpu_count(), "node": platform.node()},
                                                 "runs": [asdict(r) for r in runs],
                                                 "summaries": [asdict(s) for s in summaries],
                                                 "steady": [asdict(s) for s in steadies]}, indent=2))
        finally:
            from django.conf import settings

            if settings.configured:
                from django.db import connections

                connections.close_all()
            if not args.keep_db:
                recreate_database(args, drop_only=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
