"""A real Rucio server on 127.0.0.1 for tests: database, REST app, RSEs and conveyor daemons.

The server runs from its own virtual environment (``scripts/rucio-server.sh``
makes it: the ``rucio`` server package pins SQLAlchemy and urllib3 below what
the LSST stack needs). `RucioTestServer.start` creates a fresh PostgreSQL
database, writes ``rucio.cfg``, builds the schema with the tools shipped in
the wheel, starts the REST app under gunicorn and the conveyor daemons
(submitter, poller, finisher) plus the judge repairer, with the
``localcopy`` transfer tool (`tests.rucio.localcopy`) standing in for
FTS. `add_site_rse` adds a posix RSE on a local directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

__all__ = ["DAEMONS", "RucioServerError", "RucioTestServer"]

ROOT_USERNAME = "ddmlab"
ROOT_PASSWORD = "secret"
LOCALCOPY = Path(__file__).resolve().parent / "localcopy.py"
DAEMONS: dict[str, list[str]] = {
    "submitter": ["rucio-conveyor-submitter", "--sleep-time", "1"],
    "poller": ["rucio-conveyor-poller", "--older-than", "0", "--sleep-time", "1"],
    "finisher": ["rucio-conveyor-finisher", "--sleep-time", "1"],
    "repairer": ["rucio-judge-repairer", "--sleep-time", "1"],
}


class RucioServerError(RuntimeError):
    """The local Rucio server could not be set up or started."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RucioTestServer:
    """A local Rucio server. ``database_url`` is ``postgres://user[:pw]@host:port/name`` (recreated on start)."""

    work_dir: Path
    venv: Path
    database_url: str
    port: int = 0
    daemons: tuple[str, ...] = tuple(DAEMONS)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.work_dir / "rucio.cfg"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "RUCIO_CONFIG": str(self.config_path), "PYTHONUNBUFFERED": "1"}

    def start(self) -> RucioTestServer:
        """Create the database and config, build the schema, start gunicorn and the daemons; return self.

        Raises `RucioServerError` if the venv is missing or the server does not answer within 60 s.
        """
        self.venv, self.work_dir = Path(self.venv).resolve(), Path(self.work_dir).resolve()
        if not (self.venv / "bin" / "gunicorn").exists():
            raise RucioServerError(f"no Rucio server venv at {self.venv}: run scripts/rucio-server.sh")
        self.port = self.port or _free_port()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("trace", "logs", "localcopy"):
            (self.work_dir / sub).mkdir(exist_ok=True)
        self._recreate_database()
        self._write_config()
        self._run_python("from rucio.db.sqla.util import build_database, create_base_vo, create_root_account\n"
                         "build_database(); create_base_vo(); create_root_account()")
        self._spawn("server", [str(self.venv / "bin" / "gunicorn"), "-b", f"127.0.0.1:{self.port}", "-w", "2",
                               "--timeout", "60",  # no --preload: a forked SQLAlchemy pool breaks
                               # its own control socket, so that concurrent test servers do not collide
                               "--control-socket", str(self.work_dir / "gunicorn.ctl"),
                               "rucio.web.rest.flaskapi.v1.main:application"])
        self._wait_for_ping(60)
        for name in self.daemons:
            self._spawn(name, [str(self.venv / "bin" / "python"), str(LOCALCOPY), *DAEMONS[name]])
        return self

    def stop(self) -> None:
        """Stop gunicorn and the daemons (their whole process groups)."""
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.processes.clear()

    def client(self, account: str = "root"):
        """Return a rucio-clients `Client` logged in as the root userpass identity."""
        from rucio.client import Client

        return Client(rucio_host=self.host, auth_host=self.host, account=account, auth_type="userpass",
                      creds={"username": ROOT_USERNAME, "password": ROOT_PASSWORD})

    def add_site_rse(self, rse: str, prefix: str | Path, *, limit_bytes: int = 10**12, rse_type: str = "DISK") -> None:
        """Add a deterministic posix RSE on ``prefix`` (identity lfn2pfn) with a root account limit.

        ``rse_type="TAPE"`` makes a tape RSE (for archive rules); here its "tape" is a local directory.

        Existing RSEs are kept (idempotent). Distances are set with `connect`.
        """
        from rucio.common.exception import Duplicate, RSEProtocolNotSupported

        client = self.client()
        try:
            client.add_rse(rse, deterministic=True, rse_type=rse_type)
        except Duplicate:
            pass
        client.add_rse_attribute(rse, "lfn2pfn_algorithm", "identity")
        client.add_rse_attribute(rse, "fts", "localcopy")
        prefix = str(Path(prefix).resolve()).rstrip("/") + "/"
        Path(prefix).mkdir(parents=True, exist_ok=True)
        try:
            client.delete_protocols(rse, "file")
        except RSEProtocolNotSupported:
            pass
        domains = {"read": 1, "write": 1, "delete": 1}
        client.add_protocol(rse, {
            "scheme": "file", "hostname": "", "port": 0, "prefix": prefix,
            "impl": "rucio.rse.protocols.posix.Default",
            "domains": {"lan": domains, "wan": {**domains, "third_party_copy_read": 1,
                                                "third_party_copy_write": 1}},
        })
        client.set_local_account_limit("root", rse, limit_bytes)

    def connect(self, rses: list[str], distance: int = 1) -> None:
        """Set distances between every pair of ``rses``, both ways."""
        client = self.client()
        for source in rses:
            for destination in rses:
                if source == destination:
                    continue
                if client.get_distance(source, destination):
                    client.update_distance(source, destination, {"distance": distance})
                else:
                    client.add_distance(source, destination, {"distance": distance})

    def log_tail(self, name: str, lines: int = 40) -> str:
        """Return the last ``lines`` of a process log (``server``, ``submitter``...)."""
        path = self.work_dir / "logs" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.work_dir / "logs" / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(argv, cwd=self.work_dir, env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True)

    def _run_python(self, code: str) -> None:
        done = subprocess.run([str(self.venv / "bin" / "python"), "-c", code], cwd=self.work_dir, env=self.env,
                              capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RucioServerError(f"rucio schema setup failed: {done.stderr[-2000:]}")

    def _wait_for_ping(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.processes["server"].poll() is not None:
                raise RucioServerError(f"gunicorn exited: {self.log_tail('server')}")
            try:
                with urllib.request.urlopen(f"{self.host}/ping", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        raise RucioServerError(f"the Rucio server did not answer on {self.host}: {self.log_tail('server')}")

    def _database(self) -> tuple[str, str]:
        """Return (the maintenance connection string, the database name)."""
        url = urlparse(self.database_url)
        name = url.path.lstrip("/")
        return self.database_url.replace(url.path, "/postgres", 1) if url.path else self.database_url, name

    def _recreate_database(self) -> None:
        import psycopg

        maintenance, name = self._database()
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')

    def _write_config(self) -> None:
        site_packages = next((self.venv / "lib").glob("python3*/site-packages"))
        template = self.venv / "rucio" / "etc" / "alembic.ini.template"
        alembic_ini = self.work_dir / "alembic.ini"
        # The template's [alembic] section repeats options (one block per database kind): keep only
        # its logging sections and write our own [alembic] with an absolute script_location.
        text = template.read_text()
        logging_sections = text[text.index("[loggers]"):]
        url = urlparse(self.database_url)
        sqla_url = f"postgresql+psycopg://{url.netloc}{url.path}"
        script_location = site_packages / "rucio" / "db" / "sqla" / "migrate_repo"
        alembic_ini.write_text(f"[alembic]\nsqlalchemy.url = {sqla_url}\nscript_location = {script_location}\n\n"
                               + logging_sections)
        self.config_path.write_text(f"""\
[common]
logdir = {self.work_dir / "logs"}
loglevel = INFO
[client]
rucio_host = {self.host}
auth_host = {self.host}
auth_type = userpass
username = {ROOT_USERNAME}
password = {ROOT_PASSWORD}
account = root
[database]
default = {sqla_url}
pool_size = 5
max_overflow = 10
[bootstrap]
userpass_identity = {ROOT_USERNAME}
userpass_pwd = {ROOT_PASSWORD}
[policy]
permission = generic
schema = generic
[alembic]
cfg = {alembic_ini}
[trace]
tracedir = {self.work_dir / "trace"}
[monitor]
enable_metrics = False
[conveyor]
transfertool = localcopy
scheme = file
localcopy_state_dir = {self.work_dir / "localcopy"}
# The repairer takes only the STUCK rules an operator boosted (boost_rule moves updated_at a day back).
# With 0 it grabs a rule the moment it turns STUCK, races the finisher for the row lock, loses, and
# then ignores the rule for 10-40 minutes (its in-memory paused_rules), boosted or not.
[repairer]
updated_at_delta = 3600
""")

    def remove(self) -> None:
        """Stop everything and delete the work directory."""
        self.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)
