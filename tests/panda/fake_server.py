"""A fake PanDA server with its iDDS relay, for tests (stdlib ``http.server`` in a thread).

It answers what lsst-ctrl-bps-panda and panda-client send: ``POST
/server/panda/relay_idds_command`` (a gzip-compressed JSON body with
``command_name``, ``args``, ``kwargs``, ``manager``) for the iDDS
ClientManager commands ``submit``, ``get_request_id_by_name``,
``get_requests``, ``get_contents_output_ext``, ``abort``, ``retry`` and
``ping``, answered as PanDA does: the JSON of ``(True, result)`` with iDDS
enums in their ``{"class", "module", "attributes"}`` form. It also answers
PanDA's own ``GET /api/v1/task/get_tasks_detailed_info_since`` (panda-client's
``get_tasks_detailed_info_since``): the JEDI view of every task of every
request, modified at or after ``since``, newest first, at most ``n_tasks``,
in the ``{"success", "message", "data"}`` envelope with datetimes as
``{"__datetime__": iso}``. It keeps requests, their transforms (PanDA tasks,
each with the UTC time the fake last changed it or its request) and failed
jobs, which tests set; records every call; checks the bearer token when given
one; and can be made unreachable (the port refuses connections) and
reachable again.

Usage::

    server = FakePandaServer(token="...").start()
    os.environ["PANDA_URL"] = server.url
    ...
    server.tasks_after_submit = True         # iDDS creates the tasks later, as it really does
    server.create_tasks(request_id)          # ... now
    server.set_request(request_id, "SubFinished")
    server.set_task(request_id, "isr", "SubFinished", total=4, processed=3, failed=1,
                    errors=["ValueError: boom"])
    server.age(600)                          # every task last changed 10 minutes ago ("nothing changed since")
    server.feed_failure = "database error"   # the change feed fails (the relay still answers)
    server.feed_calls()                      # how many change-feed calls were made
    server.stop()
"""

from __future__ import annotations

import gzip
import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

__all__ = ["FEED_PATH", "FakePandaServer", "FakeRequest", "FakeTask", "jedi_status"]

#: PanDA's REST path of panda-client's ``get_tasks_detailed_info_since``.
FEED_PATH = "/api/v1/task/get_tasks_detailed_info_since"
#: iDDS transform status -> the JEDI task status PanDA shows for it (anything else: ``ready``).
_JEDI_STATUS = {"Transforming": "running", "Finished": "done", "SubFinished": "finished", "Failed": "failed",
                "Cancelled": "aborted", "Suspended": "paused"}


def _now() -> datetime:
    return datetime.now(UTC)


def jedi_status(transform_status: str) -> str:
    """Return the JEDI task status the fake reports for an iDDS transform status."""
    return _JEDI_STATUS.get(transform_status, "ready")


@dataclass
class FakeTask:
    """A transform of a request (one PanDA task)."""

    transform_id: int
    workload_id: int
    name: str
    status: str = "Transforming"
    total: int = 1
    processed: int = 0
    failed: int = 0
    missing: int = 0
    processing: int = 0
    jobs: list[dict[str, Any]] = field(default_factory=list)
    #: When the fake last changed this task or its request (UTC): the task's JEDI ``modificationTime``.
    modified: datetime = field(default_factory=_now)


@dataclass
class FakeRequest:
    """An iDDS request (a submitted BPS workflow)."""

    request_id: int
    name: str
    username: str = "msproc"
    status: str = "Transforming"
    errors: str | None = None
    tasks: list[FakeTask] = field(default_factory=list)
    #: ``(name, quanta)`` of the tasks iDDS has not created yet (see ``FakePandaServer.tasks_after_submit``).
    pending: list[tuple[str, int]] = field(default_factory=list)


def _enum(kind: str, name: str) -> dict[str, Any]:
    from idds.common import constants

    return getattr(constants, kind)[name].to_dict()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def _reply(self, code: int, body: str | bytes, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        fake = self.server.fake
        if fake.token is None:
            return True
        return self.headers.get("Authorization", "") == f"Bearer {fake.token}"

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        self.server.fake._record(path, None)
        if path.endswith("/isAlive") or path.endswith("/system/is_alive"):
            self._reply(200, "alive=yes", "text/plain")
        elif path.endswith(FEED_PATH):
            if not self._authorized():
                self._reply(403, "authentication failed", "text/plain")
                return
            params = {key: values[0] for key, values in parse_qs(query).items()}
            failure = self.server.fake.feed_failure
            try:
                if failure:
                    raise ValueError(failure)
                envelope = {"success": True, "message": "", "data": self.server.fake._feed(params)}
            except (TypeError, ValueError) as exc:  # bad since/n_tasks/filters, or a failure tests asked for
                envelope = {"success": False, "message": str(exc), "data": None}
            self._reply(200, json.dumps(envelope, default=_encode_special))
        else:
            self._reply(404, "not found", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        try:
            data = json.loads(body) if body[:1] == b"{" else {k: v[0] for k, v in parse_qs(body.decode()).items()}
        except ValueError:
            data = {}
        command = str(data.get("command_name", "")).split("+", 1)[0]
        self.server.fake._record(path, command or None)
        if not self._authorized():
            self._reply(403, "authentication failed", "text/plain")
            return
        if not path.endswith("/relay_idds_command"):
            self._reply(404, "not found", "text/plain")
            return
        from idds.common.utils import json_dumps, json_loads

        try:
            args = json_loads(data["args"]) if data.get("args") else []
            kwargs = json_loads(data["kwargs"]) if data.get("kwargs") else {}
            result = self.server.fake._command(command, args, kwargs)
            payload = (True, result)
        except Exception as exc:  # the relay answers (False, message) when the command fails
            payload = (False, f"failed to execute command with {exc}")
        self._reply(200, json_dumps(payload))


def _encode_special(value: Any) -> Any:
    """Encode what JSON cannot carry as the PanDA server does (panda-client's ``decode_special_cases``)."""
    if isinstance(value, datetime):  # PanDA's database times are naive UTC
        return {"__datetime__": value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakePandaServer


class FakePandaServer:
    """The fake server and its state. ``calls`` lists ``(path, iDDS command)`` of every request received.

    A change-feed call (a GET, no iDDS command) is recorded as ``(path, None)``.
    """

    def __init__(self, token: str | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.requests: dict[int, FakeRequest] = {}
        self.calls: list[tuple[str, str | None]] = []
        self.default_quanta = 2
        #: When true, a submitted request has no tasks until ``create_tasks`` (real iDDS makes them later).
        self.tasks_after_submit = False
        #: When set, the change feed answers ``success: false`` with this message (PanDA's database failing).
        self.feed_failure: str | None = None
        self._ids = itertools.count(1001)
        self._workloads = itertools.count(50001)
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakePandaServer:
        """Listen (on the same port as before after a stop) and return self."""
        self._server = _Server((self.host, self.port), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-panda", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until start() again. State is kept."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    make_unreachable = stop
    make_reachable = start

    @property
    def url(self) -> str:
        """The PANDA_URL / PANDA_URL_SSL of this server."""
        return f"http://{self.host}:{self.port}/server/panda"

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def relay_calls(self, command: str | None = None) -> list[str]:
        """Return the iDDS commands relayed so far (only ``command`` if given)."""
        with self._lock:
            return [c for _, c in self.calls if c and (command is None or c == command)]

    def feed_calls(self) -> int:
        """Return how many ``get_tasks_detailed_info_since`` calls were received."""
        with self._lock:
            return sum(1 for path, _ in self.calls if path.endswith(FEED_PATH))

    def age(self, seconds: float) -> None:
        """Move every task's modification time ``seconds`` into the past (as if nothing changed since)."""
        with self._lock:
            for request in self.requests.values():
                for task in request.tasks:
                    task.modified -= timedelta(seconds=seconds)

    # ------------------------------------------------------------------ state that tests set
    def add_request(self, name: str, status: str = "Transforming", labels: tuple[str, ...] = (
            "pipetaskInit", "isr", "calibrateImage", "finalJob"), quanta: int | None = None) -> int:
        """Create a request as if submitted, with one task per label; return its id."""
        with self._lock:
            request = FakeRequest(next(self._ids), name, status=status)
            for number, label in enumerate(labels, start=1):
                total = 1 if label in {"pipetaskInit", "finalJob"} else (quanta or self.default_quanta)
                self._add_task(request, f"{name}_{number:02d}_{label}_01", total)
            self.requests[request.request_id] = request
            return request.request_id

    def _add_task(self, request: FakeRequest, name: str, total: int) -> FakeTask:
        task = FakeTask(transform_id=next(self._workloads), workload_id=0, name=name, total=total,
                        processing=total)
        task.workload_id = task.transform_id
        request.tasks.append(task)
        return task

    @staticmethod
    def _touch(request: FakeRequest) -> None:
        """Record that the request changed: its tasks' modification times become now."""
        now = _now()
        for task in request.tasks:
            task.modified = now

    def set_request(self, request_id: int, status: str, errors: str | None = None) -> None:
        """Set a request's iDDS status (``Transforming``, ``Finished``, ``SubFinished``, ``Failed`` ...).

        ``Finished`` also finishes every task with all its quanta processed.
        """
        with self._lock:
            request = self.requests[request_id]
            request.status = status
            request.errors = errors
            if status == "Finished":
                for task in request.tasks:
                    task.status, task.processed, task.failed, task.processing = "Finished", task.total, 0, 0
            self._touch(request)

    def set_task(self, request_id: int, label: str, status: str, *, total: int | None = None,
                 processed: int = 0, failed: int = 0, missing: int = 0,
                 errors: list[str] | None = None) -> FakeTask:
        """Set the status and counts of the task labelled ``label``; ``errors`` become failed jobs."""
        with self._lock:
            task = next(t for t in self.requests[request_id].tasks if f"_{label}_" in t.name)
            task.status = status
            task.total = task.total if total is None else total
            task.processed, task.failed, task.missing = processed, failed, missing
            task.processing = max(task.total - processed - failed - missing, 0)
            task.jobs = [
                {"panda_id": 7000000 + n, "job_status": "failed", "trans_exit_code": 1,
                 "exe_error_code": 1, "exe_error_diag": message, "pilot_error_code": 0, "pilot_error_diag": "",
                 "computing_site": "FAKE", "attempt_nr": 1}
                for n, message in enumerate(errors or [])
            ]
            task.modified = _now()
            return task

    def create_tasks(self, request_id: int) -> list[FakeTask]:
        """Create the tasks of a request submitted with ``tasks_after_submit`` (what iDDS does on its own)."""
        with self._lock:
            request = self.requests[request_id]
            created = [self._add_task(request, name, quanta) for name, quanta in request.pending]
            request.pending.clear()
            if created and request.status == "New":
                request.status = "Transforming"
            self._touch(request)
            return created

    def finish_all(self, request_id: int) -> None:
        self.set_request(request_id, "Finished")

    # ------------------------------------------------------------------ PanDA's task API
    def _feed(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """Answer ``get_tasks_detailed_info_since``: the JEDI rows of the tasks modified since ``since``.

        Raises ValueError for a parameter PanDA would refuse.
        """
        since = datetime.strptime(params["since"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) \
            if params.get("since") else None
        limit = int(params.get("n_tasks") or 500)
        filters = json.loads(params["filters"]) if params.get("filters") else {}
        if not isinstance(filters, dict):
            raise ValueError("filters must be a JSON object")
        with self._lock:
            rows = [
                {"jediTaskID": task.workload_id, "reqID": request.request_id, "taskName": task.name,
                 "status": jedi_status(task.status), "modificationTime": task.modified,
                 "userName": request.username, "prodSourceLabel": "managed"}
                for request in self.requests.values() for task in request.tasks
                if since is None or task.modified >= since
            ]
        rows = [row for row in rows if all(str(row.get(key)) == str(value) for key, value in filters.items())]
        rows.sort(key=lambda row: row["modificationTime"], reverse=True)
        return rows[:limit]

    # ------------------------------------------------------------------ the relay
    def _record(self, path: str, command: str | None) -> None:
        with self._lock:
            self.calls.append((path, command))

    def _command(self, command: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        handler = getattr(self, f"_cmd_{command}", None)
        if handler is None:
            raise ValueError(f"{command} is not a command of iDDS ClientManager")
        with self._lock:
            return handler(*args, **kwargs)

    def _cmd_ping(self) -> dict[str, str]:
        return {"Status": "OK"}

    def _cmd_submit(self, workflow: Any, username: str | None = None, userdn: str | None = None,
                    use_dataset_name: bool = False) -> int:
        names: list[str] = []
        try:
            names = [work.get_work_name() for work in workflow.get_all_works()]
        except Exception:
            names = []
        request = FakeRequest(next(self._ids), workflow.name, username=username or "msproc", status="New")
        for name in names:
            quanta = 1 if ("_pipetaskInit_" in name or "_finalJob_" in name) else self.default_quanta
            if self.tasks_after_submit:
                request.pending.append((name, quanta))
            else:
                self._add_task(request, name, quanta)
        self.requests[request.request_id] = request
        return request.request_id

    def _cmd_get_request_id_by_name(self, name: str) -> dict[str, int]:
        return {r.name: r.request_id for r in sorted(self.requests.values(), key=lambda r: r.request_id)
                if r.name == name}

    def _cmd_get_requests(self, request_id: int | None = None, workload_id: int | None = None,
                          with_detail: bool = False, with_metadata: bool = False) -> list[dict[str, Any]]:
        requests = [self.requests[int(request_id)]] if request_id is not None and int(request_id) in self.requests \
            else ([] if request_id is not None else list(self.requests.values()))
        rows: list[dict[str, Any]] = []
        for request in requests:
            head = {"request_id": request.request_id, "workload_id": None, "scope": "workflow",
                    "name": request.name, "username": request.username, "requester": "panda",
                    "status": _enum("RequestStatus", request.status), "errors": request.errors}
            if not with_detail:
                rows.append(head)
                continue
            if not request.tasks:
                rows.append({**head, "transform_id": None})
            for task in request.tasks:
                rows.append({
                    **head, "transform_id": task.transform_id, "transform_workload_id": task.workload_id,
                    "transform_name": task.name, "transform_status": _enum("TransformStatus", task.status),
                    "output_coll_scope": "pseudo_dataset", "output_coll_name": f"pseudo_output_{task.name}",
                    "output_total_files": task.total, "output_processed_files": task.processed,
                    "output_failed_files": task.failed, "output_missing_files": task.missing,
                    "output_processing_files": task.processing, "output_new_files": 0, "input_new_files": 0,
                })
        return rows

    def _cmd_get_contents_output_ext(self, request_id: int | None = None, workload_id: int | None = None,
                                     transform_id: int | None = None,
                                     group_by_jedi_task_id: bool = False) -> dict[str, list[dict[str, Any]]]:
        request = self.requests[int(request_id)]
        for task in request.tasks:
            if workload_id is not None and task.workload_id == int(workload_id):
                return {str(task.workload_id): [dict(job, workload_id=task.workload_id) for job in task.jobs]}
        return {}

    def _cmd_abort(self, request_id: int | None = None, workload_id: int | None = None) -> list[Any]:
        request = self.requests[int(request_id)]
        if request.status not in {"Finished", "SubFinished", "Failed", "Cancelled", "Expired"}:
            request.status = "Cancelled"
            for task in request.tasks:
                if task.status not in {"Finished", "SubFinished", "Failed"}:
                    task.status = "Cancelled"
            self._touch(request)
        return [0, "Command registered successfully"]

    def _cmd_retry(self, request_id: int | None = None, workload_id: int | None = None) -> list[Any]:
        request = self.requests[int(request_id)]
        request.status = "Transforming"
        for task in request.tasks:
            if task.status in {"SubFinished", "Failed"}:
                task.status, task.failed, task.jobs = "Transforming", 0, []
                task.processing = task.total - task.processed
        self._touch(request)
        return [0, "Command registered successfully"]
