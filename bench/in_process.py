"""The phases bench/orchestration_scale.py measures inside its own process, on a seeded database.

* summary pages: a campaign of M groups in a fixed mix of states, its summary function and endpoint;
* steady ticks: a running campaign of N groups on ``bench/feed_backend.py``, the first tick, a quiet one
  and ticks after a fraction of the groups finished (wall time, queries, CPU of client and PostgreSQL).

The worker, beat and sampler processes it drives are in ``bench/processes.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path


def backend_cpu_seconds() -> float:
    """Return the CPU time the PostgreSQL backend serving this process's connection has used (same machine).

    With the client's ``time.process_time()`` it gives a tick's cost independent of what else the machine runs.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class QueryCounter:
    """A connection.execute_wrapper counting statements (without keeping them)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@dataclass
class SummaryFigures:
    groups: int
    insert_s: float = 0.0
    function_median_ms: float = 0.0
    function_queries: int = 0
    endpoint_median_ms: float | None = None
    endpoint_status: str = ""
    samples_ms: list[float] = field(default_factory=list)


SUMMARY_MIX = (("accepted", 60), ("running", 20), ("waiting", 10), ("failed", 5), ("reviewable", 5))


def insert_summary_campaign(m: int) -> int:
    """Bulk-insert a campaign of ``m`` groups (4 steps x 4 sites, a status mix, one job each); return its id."""
    from django.db import connection

    from campaigns.models import Campaign, Group, Job, Stage, Step
    from sites.models import Site

    sites = list(Site.objects.order_by("code"))
    hub = next(site for site in sites if site.is_hub)
    campaign = Campaign.objects.create(name=f"summary-{m}", spec="", plan={}, hub=hub, status="running",
                                       output_prefix=f"u/msproc/summary-{m}")
    stage = Stage.objects.create(campaign=campaign, name="stage1", order=1)
    steps = [Step.objects.create(campaign=campaign, stage=stage, name=f"step{i}", order=i, status="running")
             for i in range(1, 5)]
    statuses = [status for status, weight in SUMMARY_MIX for _ in range(weight)]
    batch = 5000
    for start in range(0, m, batch):
        ordinals = range(start + 1, min(start + batch, m) + 1)
        groups = Group.objects.bulk_create(
            [Group(campaign=campaign, step=steps[i % 4], site=sites[(i // 4) % 4], ordinal=i,
                   data_query=f"instrument='MockCam' AND visit IN ({i})", data_ids={"visit": [i]},
                   status=statuses[i % len(statuses)], attempts=1) for i in ordinals])
        Job.objects.bulk_create(
            [Job(group=group, attempt=1, backend="noop", workflow_name=f"summary-{m}-g{group.ordinal}-a1",
                 run_collection=f"u/msproc/summary-{m}/g{group.ordinal}", status=group.status,
                 quanta_expected=10, quanta_succeeded=10 if group.status == "accepted" else 0) for group in groups])
    with connection.cursor() as cursor:
        for table in ("campaigns_job", "campaigns_group"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return campaign.pk


def measure_summary(args: argparse.Namespace, m: int) -> SummaryFigures:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from campaigns.progress import campaign_summary

    figures = SummaryFigures(groups=m)
    start = time.perf_counter()
    campaign_id = insert_summary_campaign(m)
    figures.insert_s = time.perf_counter() - start

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        summary = campaign_summary(campaign_id)
    assert summary["groups"]["total"] == m, summary["groups"]
    figures.function_queries = counter.count
    samples = []
    for _ in range(args.summary_calls):
        start = time.perf_counter()
        campaign_summary(campaign_id)
        samples.append((time.perf_counter() - start) * 1000)
    figures.samples_ms = [round(s, 2) for s in samples]
    figures.function_median_ms = statistics.median(samples)

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True,
                                                                                 "is_superuser": True})
    client = Client()
    client.force_login(user)
    url = f"/api/v1/campaigns/{campaign_id}/summary/"
    response = client.get(url, secure=True)
    if response.status_code != 200:
        figures.endpoint_status = f"GET {url} -> {response.status_code} (endpoint missing?)"
        return figures
    samples = []
    for _ in range(args.summary_calls):
        start = time.perf_counter()
        response = client.get(url, secure=True)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    figures.endpoint_median_ms = statistics.median(samples)
    figures.endpoint_status = "200"
    return figures


# ---------------------------------------------------------------------------------------------- steady ticks


@dataclass
class SteadyFigures:
    groups: int
    changed_per_tick: int = 0
    insert_s: float = 0.0
    first_tick_s: float = 0.0
    quiet_tick_s: float = 0.0
    quiet_tick_queries: int = 0
    quiet_tick_cpu_s: str = ""
    tick_median_s: float = 0.0
    tick_max_s: float = 0.0
    tick_queries: list[int] = field(default_factory=list)
    tick_cpu_s: list[str] = field(default_factory=list)
    samples_s: list[float] = field(default_factory=list)


def insert_running_campaign(n: int, backend: str) -> tuple[int, list[str]]:
    """Bulk-insert a running campaign of ``n`` running groups (4 steps x 4 sites), one running job each on
    ``backend``; return its id and the jobs' workflow names."""
    from django.db import connection

    from campaigns.models import Campaign, Group, Job, Stage, Step
    from sites.models import Site

    sites = list(Site.objects.order_by("code"))
    hub = next(site for site in sites if site.is_hub)
    campaign = Campaign.objects.create(name=f"steady-{n}", spec="", plan={}, hub=hub, status="running",
                                       output_prefix=f"u/msproc/steady-{n}")
    stage = Stage.objects.create(campaign=campaign, name="stage1", order=1)
    steps = [Step.objects.create(campaign=campaign, stage=stage, name=f"step{i}", order=i, status="running")
             for i in range(1, 5)]
    names = []
    batch = 5000
    for start in range(0, n, batch):
        ordinals = range(start + 1, min(start + batch, n) + 1)
        groups = Group.objects.bulk_create(
            [Group(campaign=campaign, step=steps[i % 4], site=sites[(i // 4) % 4], ordinal=i,
                   data_query=f"instrument='MockCam' AND visit IN ({i})", data_ids={"visit": [i]},
                   status="running", attempts=1) for i in ordinals])
        jobs = Job.objects.bulk_create(
            [Job(group=group, attempt=1, backend=backend, workflow_name=f"steady-{n}-g{group.ordinal}-a1",
                 run_collection=f"u/msproc/steady-{n}/g{group.ordinal}", status="running",
                 external_ids={"bench": group.ordinal}) for group in groups])
        names += [job.workflow_name for job in jobs]
    with connection.cursor() as cursor:
        for table in ("campaigns_job", "campaigns_group", "campaigns_step"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return campaign.pk, names


def timed_tick() -> tuple[float, int, str, object]:
    """Run one tick in this process: (wall seconds, queries, "client+server" CPU seconds, its report)."""
    from django.db import connection

    from campaigns.orchestration import reconcile

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        server = backend_cpu_seconds()
        client = time.process_time()
        start = time.perf_counter()
        report = reconcile()
        wall = time.perf_counter() - start
        cpu = f"{time.process_time() - client:.2f}+{backend_cpu_seconds() - server:.2f}"
    return wall, counter.count - 2, cpu, report  # not the two backend_cpu_seconds look-ups


def measure_steady(args: argparse.Namespace, n: int) -> SteadyFigures:
    """Ticks over ``n`` running groups of which ``--change`` finish between ticks (FeedBackend, in this process)."""
    import random

    from django.conf import settings
    from feed_backend import FeedBackend  # bench/feed_backend.py

    from campaigns.backends import register
    from campaigns.models import Campaign, Group, Job, Step

    register(FeedBackend.name, "feed_backend.FeedBackend")
    settings.MSPROC_EXECUTION_BACKEND = FeedBackend.name
    FeedBackend.finished = {}
    figures = SteadyFigures(groups=n)
    start = time.perf_counter()
    campaign_id, names = insert_running_campaign(n, FeedBackend.name)
    figures.insert_s = time.perf_counter() - start
    random.Random(n).shuffle(names)
    figures.first_tick_s, *_ = timed_tick()  # the first: every job is new to the poll
    figures.quiet_tick_s, figures.quiet_tick_queries, figures.quiet_tick_cpu_s, report = timed_tick()
    assert report.jobs_finished == 0, report
    k = max(1, round(n * args.change))
    figures.changed_per_tick = k
    for tick in range(args.steady_ticks):
        FeedBackend.finish(names[tick * k:(tick + 1) * k])
        wall, queries, cpu, report = timed_tick()
        assert report.jobs_finished == k, (report.jobs_finished, k)
        figures.samples_s.append(round(wall, 3))
        figures.tick_queries.append(queries)
        figures.tick_cpu_s.append(cpu)
    figures.tick_median_s = statistics.median(figures.samples_s)
    figures.tick_max_s = max(figures.samples_s)
    # Out of the way of the next size (bench only: no events), so each size is measured alone.
    Job.objects.filter(group__campaign_id=campaign_id).update(status="accepted")
    Group.objects.filter(campaign_id=campaign_id).update(status="accepted")
    Step.objects.filter(campaign_id=campaign_id).update(status="accepted")
    Campaign.objects.filter(pk=campaign_id).update(status="accepted")
    return figures


# ---------------------------------------------------------------------------------------------- report
