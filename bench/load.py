#!/usr/bin/env python
"""Load test of the web tier: 20 concurrent clients on the main API lists and pages for 60 s, 10,000 groups.

One command (from the repository root, PostgreSQL running)::

    .venv/bin/python bench/load.py --groups 10000 --clients 20 --duration 60

What it does:

1. Creates its own database ``msproc_load`` (dropped first, and at the end unless ``--keep-db``), migrates
   it, loads the four sites and bulk-inserts a running campaign of ``--groups`` groups (four steps, four
   sites, a status mix, one job each: ``bench/orchestration_scale.py``'s summary campaign), plus
   ``--groups // 10`` movements and as many events, and a staff user with an API token and a session.
2. For each target, starts the web server on 127.0.0.1 with production settings (``DEBUG=false``):
   - ``gunicorn``: the production deployment's web process, started by ``scripts/serve.sh`` with
     ``MSPROC_ROLES=web`` (supervised gunicorn, static files by WhiteNoise, ``--web-workers`` processes);
   - ``runserver``: one ``manage.py runserver --noreload`` process (threaded), for comparison.
3. Runs ``--clients`` threads for ``--warmup`` seconds (not counted), then for ``--duration`` seconds;
   each requests, round robin from its own offset,
   the API lists (campaigns, groups, jobs, movements, events, sites) with a token and the pages (home,
   campaign list, campaign, groups, movements, events) with a session. A request is an error unless it
   answers 200 within ``--request-timeout`` seconds.
4. Prints requests, errors, throughput, p50/p95/max latency per target (and p95 per URL), and with
   ``--json PATH`` writes them as JSON. Bounded in time: every phase has a deadline.

Clients and servers share this machine's cores: the figures are for this machine, clients included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
API = ["/api/v1/campaigns/", "/api/v1/groups/", "/api/v1/jobs/", "/api/v1/movements/", "/api/v1/events/",
       "/api/v1/sites/"]
PAGES = ["/", "/campaigns/", "/campaigns/{campaign}/", "/campaigns/groups/", "/transfers/",
         "/campaigns/events/"]


@dataclass
class TargetFigures:
    target: str
    processes: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    throughput: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0
    per_url_p95_ms: dict[str, float] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=10000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load per target")
    parser.add_argument("--targets", nargs="*", default=["gunicorn", "runserver"], choices=["gunicorn", "runserver"])
    parser.add_argument("--web-workers", type=int, default=(os.cpu_count() or 1) * 2 + 1,
                        help="gunicorn worker processes (serve.sh's MSPROC_WEB_WORKERS)")
    parser.add_argument("--web-threads", type=int, default=1, help="threads per gunicorn worker (MSPROC_WEB_THREADS)")
    parser.add_argument("--port", type=int, default=18100, help="gunicorn's port; runserver gets the next one")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="msproc_load")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of the same load first, not counted")
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--json", type=Path)
    return parser.parse_args()


def server_env(args: argparse.Namespace, data_dir: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "msproc.settings",
           "DATABASE_URL": f"{args.postgres.rstrip('/')}/{args.database}", "MSPROC_DATA_DIR": data_dir,
           "DEBUG": "false", "SECRET_KEY": "msproc-load-test-" + "x" * 40, "ALLOWED_HOSTS": "127.0.0.1",
           "SECURE_SSL_REDIRECT": "false", "SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false",
           "LOG_LEVEL": "WARNING", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/12"}
    return env


def recreate_database(args: argparse.Namespace, *, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(f"{args.postgres.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{args.database}"')


def seed(groups: int) -> tuple[int, str, str]:
    """Fill the database; return (campaign id, API token, session key)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.contenttypes.models import ContentType
    from django.contrib.sessions.backends.db import SessionStore
    from rest_framework.authtoken.models import Token

    from campaigns.models import Group
    from core.models import Event
    from sites.models import Site
    from sites.services import load_sites
    from transfers.models import Movement

    sys.path.insert(0, str(BENCH))
    from orchestration_scale import insert_summary_campaign

    load_sites()
    campaign_id = insert_summary_campaign(groups)
    sites = list(Site.objects.order_by("code"))
    Movement.objects.bulk_create([
        Movement(campaign_id=campaign_id, key=f"setup-{i}", kind="setup", destination=sites[i % len(sites)],
                 status=("done", "transferring", "planned")[i % 3], expected_count=10) for i in range(groups // 10)])
    group_type = ContentType.objects.get_for_model(Group)
    first = Group.objects.filter(campaign_id=campaign_id).order_by("pk").values_list("pk", flat=True).first()
    Event.objects.bulk_create([
        Event(content_type=group_type, object_id=first + i, object_repr=f"group #{first + i}", campaign_id=campaign_id,
              verb="start", from_status="prepared", to_status="running") for i in range(groups // 10)])
    user = get_user_model().objects.create_superuser("load", "load@example.org", "load-test-password")
    token = Token.objects.create(user=user).key
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("transfers_movement", "campaigns_event", "authtoken_token", "django_session"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return campaign_id, token, session.session_key


def wait_ready(url: str, deadline: float) -> None:
    import requests

    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/accounts/login/", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer in time")


class Server:
    """gunicorn through scripts/serve.sh (supervised), or one runserver process."""

    def __init__(self, target: str, args: argparse.Namespace, env: dict[str, str], workdir: Path) -> None:
        self.target, self.args, self.workdir = target, args, workdir
        self.port = args.port if target == "gunicorn" else args.port + 1
        self.env = {**env, "MSPROC_SERVE_DIR": str(workdir / "serve"), "MSPROC_ROLES": "web",
                    "MSPROC_BIND": f"127.0.0.1:{self.port}", "MSPROC_WEB_WORKERS": str(args.web_workers),
                    "MSPROC_WEB_THREADS": str(args.web_threads),
                    "MSPROC_VENV": str(Path(PYTHON).parent.parent)}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def describe(self) -> str:
        if self.target == "gunicorn":
            return (f"gunicorn, {self.args.web_workers} workers x {self.args.web_threads} threads, supervised "
                    "(scripts/serve.sh)")
        return "manage.py runserver --noreload (1 process, threaded)"

    def start(self) -> None:
        if self.target == "gunicorn":
            subprocess.run(["bash", str(ROOT / "scripts" / "serve.sh"), "start"], env=self.env, cwd=ROOT,
                           check=True, timeout=300, stdout=subprocess.DEVNULL)
        else:
            log = open(self.workdir / "runserver.log", "w")
            self.process = subprocess.Popen([PYTHON, "manage.py", "runserver", f"127.0.0.1:{self.port}",
                                             "--noreload"], cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)
        wait_ready(self.url, time.monotonic() + 120)

    def stop(self) -> None:
        if self.target == "gunicorn":
            subprocess.run(["bash", str(ROOT / "scripts" / "serve.sh"), "stop"], env=self.env, cwd=ROOT,
                           timeout=120, stdout=subprocess.DEVNULL)
        elif self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def run_load(server: Server, args: argparse.Namespace, campaign_id: int, token: str, session: str) -> TargetFigures:
    import requests

    urls = [(path, "api") for path in API] + [(path.format(campaign=campaign_id), "page") for path in PAGES]
    samples: list[tuple[str, float, bool, str]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + args.duration

    def client(index: int) -> None:
        http = requests.Session()
        mine: list[tuple[str, float, bool, str]] = []
        position = index
        while time.monotonic() < stop_at:
            path, kind = urls[position % len(urls)]
            position += 1
            headers = ({"Authorization": f"Token {token}"} if kind == "api" else {"Cookie": f"sessionid={session}"})
            started = time.perf_counter()
            try:
                response = http.get(server.url + path, headers=headers, timeout=args.request_timeout,
                                    allow_redirects=False)
                ok, detail = response.status_code == 200, f"{path}: HTTP {response.status_code}"
            except requests.RequestException as exc:
                ok, detail = False, f"{path}: {type(exc).__name__}"
            mine.append((path, time.perf_counter() - started, ok, detail))
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.duration + args.request_timeout + 30)
    seconds = time.monotonic() - began
    latencies = sorted(sample[1] for sample in samples)
    figures = TargetFigures(server.target, server.describe(), requests=len(samples),
                            errors=sum(1 for sample in samples if not sample[2]), seconds=round(seconds, 1))
    if latencies:
        figures.throughput = round(len(latencies) / seconds, 1)
        figures.p50_ms = round(1000 * statistics.median(latencies), 1)
        figures.p95_ms = round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1)
        figures.max_ms = round(1000 * latencies[-1], 1)
    for path, _ in urls:
        mine = sorted(sample[1] for sample in samples if sample[0] == path)
        if mine:
            figures.per_url_p95_ms[path] = round(1000 * mine[int(0.95 * (len(mine) - 1))], 1)
    figures.error_samples = sorted({sample[3] for sample in samples if not sample[2]})[:10]
    return figures


def print_table(results: list[TargetFigures], args: argparse.Namespace) -> None:
    print(f"\n{args.clients} clients x {args.duration:.0f} s, {args.groups} groups, {platform.node()}, "
          f"{os.cpu_count()} cores")
    print(f"{'target':<10} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for r in results:
        print(f"{r.target:<10} {r.requests:>8} {r.errors:>6} {r.throughput:>7} {r.p50_ms:>8} {r.p95_ms:>8} "
              f"{r.max_ms:>8}   {r.processes}")
    for r in results:
        print(f"\np95 per URL, {r.target}:")
        for path, p95 in r.per_url_p95_ms.items():
            print(f"  {path:<28} {p95:>8} ms")
        for sample in r.error_samples:
            print(f"  error: {sample}")


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="msproc-load-"))
    env = server_env(args, str(workdir / "data"))
    os.environ.update({key: env[key] for key in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "MSPROC_DATA_DIR",
                                                  "DEBUG", "SECRET_KEY", "CELERY_BROKER_URL")})
    sys.path.insert(0, str(ROOT))
    results: list[TargetFigures] = []
    recreate_database(args)
    try:
        for command in (["migrate"], ["collectstatic"]):  # DEBUG=false: pages need the hashed static files
            subprocess.run([PYTHON, "manage.py", *command, "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True,
                           timeout=600)
        started = time.monotonic()
        campaign_id, token, session = seed(args.groups)
        print(f"seeded {args.groups} groups in {time.monotonic() - started:.1f} s")
        for target in args.targets:
            server = Server(target, args, env, workdir)
            server.start()
            try:
                # Every worker process imports its views on its first requests: warm them all first.
                run_load(server, argparse.Namespace(**{**vars(args), "duration": args.warmup}), campaign_id, token,
                         session)
                results.append(run_load(server, args, campaign_id, token, session))
            finally:
                server.stop()
            print(f"{target}: {results[-1].requests} requests, {results[-1].errors} errors")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            recreate_database(args, drop_only=True)
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(results, args)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
