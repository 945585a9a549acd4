"""PanDA execution: a group attempt is one BPS workflow submitted through lsst-ctrl-bps-panda.

Submitting renders the BPS config of the attempt (``campaigns.backends.panda.bpsconfig``),
builds the workflow with ``prepare_driver(config, runWmsSubmissionChecks=False)``
(quantum graph, clustering, iDDS works) and hands it to the plugin's
``PanDAService.submit``, which sends it to iDDS through PanDA's relay.
``uniqProcName`` is the workflow name of the attempt, so the iDDS request
carries it: a retried task first looks for its request by name (and for the
``panda.json`` it wrote next to the submit files) and never submits twice.

Polling starts with one change-feed call to PanDA itself
(``get_tasks_detailed_info_since``: the service account's JEDI tasks modified
since the oldest poll of the batch) and then asks iDDS, in full, only about
the requests that may have changed: those with a task in the feed (by
``reqID`` or task id), those never polled or without task ids yet, those whose
tasks have all ended while the request has not (``settling``), and those not
polled in full for ``MSPROC_PANDA_FULL_POLL_SECONDS``. The others are left out
of the answer (unchanged). When the feed fails or may be truncated, every
request is polled in full. A full poll asks iDDS for the request's tasks
(``get_requests(with_detail=True)``, what ``bps report`` uses), maps them with
``campaigns.backends.panda.states`` and, for finished attempts with failed jobs,
fetches the jobs' error messages (``get_contents_output_ext``) so ErrorRules
can match them. It returns ``polled_at``, ``settling`` and the task ids iDDS
created after the submit as ``JobStatus.external_ids`` for the Job.
Cancelling is the plugin's ``PanDAService.cancel`` (iDDS ``abort``).

Before submitting, the site's Butler (when reachable from here) must not have
the output run yet and must have every input collection (a missing one is
transient: a movement may still be arriving). The prepared workflow is kept in
the attempt's directory until PanDA takes it, so a retry after an outage does
not build the quantum graph again.

Connection settings (URLs, VO, the *file* holding the token) come from
``MSPROC_PANDA_*`` settings or environment variables; see docs/panda.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from campaigns.backends.base import (
    BackendError,
    Changes,
    ExecutionBackend,
    JobRef,
    JobStatus,
    Submission,
    check_submission_paths,
)
from campaigns.backends.panda.bpsconfig import build_submit_config, write_submit_config
from campaigns.backends.panda.client import PandaConfig, PandaError, activate, guarded, idds_call
from campaigns.backends.panda.states import WorkflowSummary, summarize
from campaigns.backends.panda.workflow import (
    PREPARED_FILE,
    check_repository,
    clear_distribution,
    load_prepared,
    minimal_yaml,
    save_prepared,
    stack_environment,
)
from sites.choices import SiteStatus
from stack.paths import UnsafePath, check_under
from stack.pipetask import DATA_ID_TABLE_FILE, write_data_id_table

log = logging.getLogger(__name__)

MARKER_FILE = "panda.json"
CLAIM_FILE = "panda.claim"
#: The prepared workflow (quantum graph built, iDDS works made), kept until PanDA has taken it.
CLAIM_STALE_SECONDS = 900
POLL_THREADS = 8
MAX_ERROR_TASKS = 20
#: Seconds allowed between this host's clock and PanDA's when comparing modification times with ``polled_at``.
FEED_MARGIN_SECONDS = 120
#: Seconds a change-feed answer is shared by later polls (the reconciler's poll batches of one tick).
FEED_REUSE_SECONDS = 3
SETTING_NAMES = (
    "MSPROC_PANDA_URL", "MSPROC_PANDA_URL_SSL", "MSPROC_PANDACACHE_URL", "MSPROC_PANDA_MONITOR_URL",
    "MSPROC_PANDA_IDDS_SERVER", "MSPROC_PANDA_AUTH", "MSPROC_PANDA_AUTH_VO", "MSPROC_PANDA_TOKEN_FILE",
    "MSPROC_PANDA_VERIFY_HOST", "MSPROC_PANDA_CONFIG_ROOT", "MSPROC_PANDA_BPS_CONFIG",
)


def panda_config() -> PandaConfig:
    """Return the PanDA connection from settings, else the environment. Raises BackendError (permanent)."""
    values: dict[str, Any] = dict(os.environ)
    values.update({name: getattr(settings, name) for name in SETTING_NAMES
                   if getattr(settings, name, None) not in (None, "")})
    try:
        return PandaConfig.from_mapping(values)
    except PandaError as exc:
        raise BackendError(str(exc), permanent=True) from None


def _backend_error(exc: PandaError) -> BackendError:
    return BackendError(f"PanDA: {exc}", permanent=exc.permanent)


@dataclass(frozen=True)
class _Feed:
    """One change-feed answer: when each request and task was last modified (epoch seconds), or why not."""

    config: PandaConfig
    since: int
    fetched: float  # time.monotonic() of the call
    requests: Mapping[int, float] = field(default_factory=dict)
    tasks: Mapping[int, float] = field(default_factory=dict)
    problem: str = ""  # why the feed cannot be trusted (then every job is polled in full)

    def changed(self, request_id: int, task_ids: Sequence[int], after: float) -> bool:
        """Whether the request or one of its tasks was modified at or after ``after`` (epoch seconds)."""
        latest = max([self.requests.get(request_id, float("-inf")),
                      *(self.tasks.get(task, float("-inf")) for task in task_ids)])
        return latest >= after


class PandaExecutionBackend(ExecutionBackend):
    """Runs each attempt as a BPS workflow on PanDA. Idempotent by workflow name."""

    name = "panda"
    has_change_feed = True

    def __init__(self, config: PandaConfig | None = None) -> None:
        self._fixed_config = config
        self._feed_lock = threading.Lock()
        self._feed_memo: _Feed | None = None

    @property
    def config(self) -> PandaConfig:
        return self._fixed_config or panda_config()

    # ------------------------------------------------------------------------------------ submit
    def submit(self, submission: Submission) -> dict[str, Any]:
        config = self.config
        try:
            config.check_credentials()
        except PandaError as exc:
            raise _backend_error(exc) from None
        if submission.site_status != SiteStatus.ONLINE:
            raise BackendError(f"site {submission.site} is {submission.site_status}: not submitting to PanDA",
                               permanent=True)
        check_submission_paths(submission, str(settings.DATA_DIR / "campaigns"))
        work_dir = Path(submission.work_dir)
        marker = work_dir / MARKER_FILE
        if marker.exists():
            return json.loads(marker.read_text())
        existing = self._find_request(config, submission.workflow_name)
        if existing is not None:
            log.info("PanDA workflow %s already submitted as request %s", submission.workflow_name, existing)
            return self._record(config, submission, existing, marker)
        check_repository(submission.repo, submission.output_run, submission.inputs, submission.site)
        work_dir.mkdir(parents=True, exist_ok=True)
        self._claim(work_dir)
        try:
            request_id = self._submit_workflow(config, submission)
        finally:
            (work_dir / CLAIM_FILE).unlink(missing_ok=True)
        return self._record(config, submission, request_id, marker)

    def _find_request(self, config: PandaConfig, workflow_name: str) -> int | None:
        """Return the id of the iDDS request named ``workflow_name``, None if there is none."""
        try:
            found = idds_call(config, "get_request_id_by_name", name=workflow_name)
        except PandaError as exc:
            if "NoObject" in str(exc) or "cannot be found" in str(exc):
                return None
            raise _backend_error(exc) from None
        if isinstance(found, Mapping) and found.get(workflow_name) is not None:  # names are LIKE patterns in iDDS
            return int(found[workflow_name])
        return None

    def _claim(self, work_dir: Path) -> None:
        """Claim the submission so two workers never submit the same attempt at once."""
        claim = work_dir / CLAIM_FILE
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if time.time() - claim.stat().st_mtime < CLAIM_STALE_SECONDS:
                raise BackendError(f"{work_dir.name}: another worker is submitting it") from None
            claim.unlink(missing_ok=True)  # a worker died mid-submission; the name lookup found nothing
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        os.close(fd)

    def _bps_config(self, submission: Submission) -> dict[str, Any]:
        overrides: dict[str, Any] = {}
        site_file = getattr(settings, "MSPROC_PANDA_BPS_CONFIG", None) or os.environ.get("MSPROC_PANDA_BPS_CONFIG")
        if site_file:
            import yaml

            overrides = yaml.safe_load(Path(site_file).read_text()) or {}
        bps_yaml = submission.bps_yaml or minimal_yaml(submission)
        table = None
        if submission.data_id_table:  # a regional group: its quanta (stack.pipetask.write_data_id_table)
            Path(submission.work_dir).mkdir(parents=True, exist_ok=True)
            table = write_data_id_table(submission.data_id_table, Path(submission.work_dir) / DATA_ID_TABLE_FILE)
        try:
            return build_submit_config(
                bps_yaml, workflow_name=submission.workflow_name, output_run=submission.output_run,
                submit_dir=submission.work_dir, compute_site=submission.compute_site,
                compute_cloud=submission.compute_cloud, queue=submission.queue, butler_config=submission.repo,
                site_overrides=overrides, data_id_table=table,
                dataset_query_constraint=submission.dataset_query_constraint)
        except ValueError as exc:
            raise BackendError(f"cannot build the BPS config of {submission.workflow_name}: {exc}",
                               permanent=True) from None

    def _submit_workflow(self, config: PandaConfig, submission: Submission) -> int:
        bps_config = self._bps_config(submission)
        cache = Path(submission.work_dir) / PREPARED_FILE
        digest = hashlib.sha256(json.dumps(bps_config, sort_keys=True, default=str).encode()).hexdigest()
        stack_environment()
        activate(config)
        prepared = load_prepared(cache, digest)
        if prepared is not None:
            log.info("reusing the prepared workflow of %s (PanDA did not take it last time)", submission.workflow_name)
            wms_config, workflow = prepared
        else:
            wms_config, workflow = self._prepare(submission, bps_config)
            save_prepared(cache, digest, wms_config, workflow)
        try:
            with guarded("PanDA submit"):
                from lsst.ctrl.bps.panda import PanDAService

                clear_distribution(wms_config, workflow)
                PanDAService(wms_config).submit(workflow, config=wms_config)
        except PandaError as exc:
            raise BackendError(f"PanDA: {exc}") from None  # transient: the next try looks the name up first
        if workflow.run_id is None:
            raise BackendError(f"PanDA accepted {submission.workflow_name} without a request id")
        cache.unlink(missing_ok=True)  # PanDA has it: the marker file and the name lookup find it from now on
        log.info("submitted %s to PanDA as iDDS request %s", submission.workflow_name, workflow.run_id)
        return int(workflow.run_id)

    def _prepare(self, submission: Submission, bps_config: dict[str, Any]) -> tuple[Any, Any]:
        """Build the quantum graph and the iDDS works from scratch (``prepare_driver``). Raises BackendError."""
        # The submit path is the attempt's own (checked under DATA_DIR/campaigns by submit); a site file could
        # still set another, so it is checked again before anything is deleted there.
        try:
            submit_path = check_under(bps_config["submitPath"], Path(submission.work_dir), field="submitPath",
                                      strict=True)
        except UnsafePath as exc:
            raise BackendError(f"cannot prepare {submission.workflow_name}: {exc}", permanent=True) from None
        shutil.rmtree(submit_path, ignore_errors=True)
        path = write_submit_config(bps_config, Path(submission.work_dir) / "submit-panda.yaml")
        try:
            with guarded("BPS prepare"):
                from lsst.ctrl.bps.drivers import prepare_driver

                return prepare_driver(str(path), runWmsSubmissionChecks=False)
        except PandaError as exc:  # a bad pipeline, query or repository: retrying the same attempt cannot help
            raise BackendError(f"BPS could not prepare {submission.workflow_name}: {exc}", permanent=True) from None

    def _record(self, config: PandaConfig, submission: Submission, request_id: int, marker: Path) -> dict[str, Any]:
        ids: dict[str, Any] = {"request_id": request_id, "workflow_name": submission.workflow_name,
                               **config.monitor_links(request_id), "task_ids": []}
        try:
            summary = self._summary(config, request_id)
            ids["task_ids"] = sorted(set(summary.task_ids))
        except BackendError:
            pass  # tasks show up later; the request id is what matters
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(ids))
        return ids

    # ------------------------------------------------------------------------------------ poll
    def poll(self, jobs: Sequence[JobRef]) -> dict[str, JobStatus]:
        """Poll many attempts: one change-feed call, then one iDDS call per request that may have changed
        (in parallel), plus one per failed task. Requests that have not changed are left out of the answer.

        Raises BackendError when PanDA cannot be reached at all.
        """
        config = self.config
        refs = [job for job in jobs if job.external_ids.get("request_id")]
        statuses = {job.workflow_name: JobStatus(state="missing", error="no PanDA request id recorded")
                    for job in jobs if not job.external_ids.get("request_id")}
        if not refs:
            return statuses
        try:
            config.check_credentials()
        except PandaError as exc:
            raise _backend_error(exc) from None
        due = self._due(config, refs)
        if not due:
            return statuses
        with ThreadPoolExecutor(max_workers=min(POLL_THREADS, len(due))) as pool:
            results = list(pool.map(lambda job: self._poll_one(config, job), due))
        failures = [result for result in results if isinstance(result, BackendError)]
        if failures and len(failures) == len(results):
            raise failures[0]
        for job, result in zip(due, results, strict=True):
            if not isinstance(result, BackendError):
                statuses[job.workflow_name] = result
        return statuses

    # ------------------------------------------------------------------------------------ change feed
    def changed(self, since: float) -> Changes | None:
        """The requests the change feed shows modified at or after ``since`` (less FEED_MARGIN_SECONDS), by
        ``request_id``, and the settling ones; None (poll every job) without a feed
        (MSPROC_PANDA_FULL_POLL_SECONDS 0) or when the feed failed or may be truncated. The answer is shared
        with this tick's polls (FEED_REUSE_SECONDS)."""
        if settings.MSPROC_PANDA_FULL_POLL_SECONDS <= 0:
            return None
        config = self.config
        try:
            config.check_credentials()
        except PandaError as exc:
            raise _backend_error(exc) from None
        feed = self._change_feed(config, int(since) - FEED_MARGIN_SECONDS)
        if feed.problem:
            log.warning("PanDA change feed: %s; polling every running job", feed.problem)
            return None
        # Settling requests (every task ended, the request not yet) are asked about every tick: their end touches
        # no task, so the feed would not show it.
        return Changes(external_key="request_id", external_values=frozenset(feed.requests), flagged_key="settling")

    def _due(self, config: PandaConfig, refs: Sequence[JobRef]) -> list[JobRef]:
        """Return the jobs to poll in full: those the change feed cannot vouch for, and those it shows changed.

        When in doubt (the feed failed, or may be truncated), every job.
        """
        now = time.time()
        full_poll_seconds = settings.MSPROC_PANDA_FULL_POLL_SECONDS
        due: list[JobRef] = []
        quiet: list[tuple[JobRef, int]] = []  # (job, polled_at): polled recently, to check against the feed
        for job in refs:
            polled_at = _polled_at(job)
            if (polled_at is None or not job.external_ids.get("task_ids") or job.external_ids.get("settling")
                    or now - polled_at >= full_poll_seconds or polled_at > now + FEED_MARGIN_SECONDS):
                due.append(job)
            else:
                quiet.append((job, polled_at))
        if not quiet:
            return due
        feed = self._change_feed(config, min(polled_at for _, polled_at in quiet) - FEED_MARGIN_SECONDS)
        if feed.problem:
            log.warning("PanDA change feed: %s; polling all %d jobs in full", feed.problem, len(refs))
            return list(refs)
        changed = [job for job, polled_at in quiet if feed.changed(
            int(job.external_ids["request_id"]), _task_ids(job), polled_at - FEED_MARGIN_SECONDS)]
        log.debug("PanDA change feed: %d of %d quiet jobs changed; %d polled in full regardless",
                  len(changed), len(quiet), len(due))
        return due + changed

    def _change_feed(self, config: PandaConfig, since: int) -> _Feed:
        """Return the account's tasks modified at or after ``since`` (epoch seconds, UTC), by request and task.

        One ``get_tasks_detailed_info_since`` call, shared for FEED_REUSE_SECONDS by polls asking for the
        same window or a later one. A failed or possibly truncated answer is a _Feed with a ``problem``.
        """
        with self._feed_lock:
            memo = self._feed_memo
            if (memo is not None and memo.config == config and memo.since <= since
                    and time.monotonic() - memo.fetched < FEED_REUSE_SECONDS):
                return memo
            self._feed_memo = self._fetch_feed(config, since)
            return self._feed_memo

    def _fetch_feed(self, config: PandaConfig, since: int) -> _Feed:
        limit = settings.MSPROC_PANDA_FEED_LIMIT
        fetched = time.monotonic()
        try:
            activate(config)
            with guarded("PanDA get_tasks_detailed_info_since"):
                import pandaclient.Client as panda_client

                status, rows = panda_client.get_tasks_detailed_info_since(
                    since=datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%S"), n_tasks=limit)
        except PandaError as exc:
            return _Feed(config, since, fetched, problem=f"unavailable ({exc})")
        if status != 0 or not isinstance(rows, list):
            return _Feed(config, since, fetched, problem=f"failed (status {status})")
        if len(rows) >= limit:
            return _Feed(config, since, fetched,
                         problem=f"{len(rows)} tasks, the MSPROC_PANDA_FEED_LIMIT: the answer may be truncated")
        requests: dict[int, float] = {}
        tasks: dict[int, float] = {}
        for row in rows:
            if not isinstance(row, Mapping):
                return _Feed(config, since, fetched, problem=f"unexpected row {str(row)[:100]}")
            # A time that cannot be read counts as "now": the job is polled in full rather than missed.
            modified = _epoch(row.get("modificationTime"))
            for key, latest in (("reqID", requests), ("jediTaskID", tasks)):
                try:
                    number = int(row[key])
                except (KeyError, TypeError, ValueError):
                    continue
                latest[number] = max(latest.get(number, float("-inf")), modified)
        return _Feed(config, since, fetched, requests=requests, tasks=tasks)

    # ------------------------------------------------------------------------------------ full poll
    def _poll_one(self, config: PandaConfig, job: JobRef) -> JobStatus | BackendError:
        try:
            polled_at = int(time.time())  # before asking: a change made while iDDS answers is newer than this
            summary = self._summary(config, int(job.external_ids["request_id"]))
            error = summary.message
            if summary.state in {"failed", "partial"} and summary.failed_tasks:
                error = "\n".join(part for part in (self._errors(config, summary), error) if part)
            tasks = ", ".join(f"{label}: {c.succeeded}/{c.expected} ok, {c.failed} failed"
                              for label, c in summary.tasks.items())
            # When this full poll was made, and whether the request must be polled in full again next time.
            external_ids: dict[str, Any] = {"polled_at": polled_at, "settling": summary.settling}
            # Per-task counts as PanDA reports them, shown on the group page while the workflow runs.
            external_ids["tasks"] = {label: {"status": c.status, "expected": c.expected, "succeeded": c.succeeded,
                                             "failed": c.failed} for label, c in summary.tasks.items()}
            # iDDS creates the PanDA tasks after the submit returned (and more of them as it goes): record them.
            task_ids = sorted(set(summary.task_ids))
            if task_ids and task_ids != sorted(_task_ids(job)):
                external_ids["task_ids"] = task_ids
            return JobStatus(state=summary.state, expected=summary.expected, succeeded=summary.succeeded,
                             failed=summary.failed, error=error,
                             log_tail=f"iDDS request {summary.request_id}: {summary.request_status}; {tasks}",
                             log_path=job.external_ids.get("monitor_url", ""), external_ids=external_ids)
        except BackendError as exc:
            log.warning("polling %s failed: %s", job.workflow_name, exc)
            return exc

    def _summary(self, config: PandaConfig, request_id: int) -> WorkflowSummary:
        try:
            rows = idds_call(config, "get_requests", request_id=request_id, with_detail=True)
        except PandaError as exc:
            raise _backend_error(exc) from None
        return summarize(request_id, rows or [])

    def _errors(self, config: PandaConfig, summary: WorkflowSummary) -> str:
        """Return the distinct error messages of the failed jobs, one line each, task label first."""
        lines: list[str] = []
        for task in summary.failed_tasks[:MAX_ERROR_TASKS]:
            try:
                contents = idds_call(config, "get_contents_output_ext", request_id=summary.request_id,
                                     workload_id=task.workload_id)
            except PandaError as exc:
                lines.append(f"{task.label}: could not fetch job errors ({exc})")
                continue
            for jobs in (contents or {}).values() if isinstance(contents, Mapping) else []:
                for panda_job in jobs or []:
                    lines += [f"{task.label}: {message}" for message in _job_errors(panda_job)]
        return "\n".join(dict.fromkeys(lines))

    # ------------------------------------------------------------------------------------ cancel / restart
    def cancel(self, job: JobRef) -> None:
        """Abort the attempt's iDDS request (the plugin's cancel). Without a recorded request id (given up while
        its submission was on its way) the request is looked up by workflow name; none: nothing to cancel."""
        request_id = job.external_ids.get("request_id") or self._find_request(self.config, job.workflow_name)
        if not request_id:
            return
        self._service_call("cancel", int(request_id))

    def restart(self, job: JobRef) -> None:
        """Retry the failed jobs of the attempt's request in PanDA (iDDS ``retry``). Raises BackendError."""
        request_id = job.external_ids.get("request_id")
        if not request_id:
            raise BackendError(f"{job.workflow_name}: no PanDA request to restart", permanent=True)
        self._service_call("restart", int(request_id))

    def _service_call(self, method: str, request_id: int) -> None:
        config = self.config
        try:
            config.check_credentials()
            activate(config)
            with guarded(f"PanDA {method}"):
                from lsst.ctrl.bps import BpsConfig
                from lsst.ctrl.bps.panda import PanDAService

                service = PanDAService(BpsConfig({"iddsServer": config.idds_server} if config.idds_server else {}))
                result = getattr(service, method)(request_id)
        except PandaError as exc:
            raise _backend_error(exc) from None
        ok = result[0] if method == "cancel" else result[0] is not None
        if not ok:
            # The plugin reports an outage and a refusal alike: a refusal (PanDA answers a ping) is permanent,
            # e.g. a request that already ended; an outage is retried.
            raise BackendError(f"PanDA {method} of request {request_id}: {result[-1]}",
                               permanent=_answers(config))


def _polled_at(job: JobRef) -> int | None:
    """When the job's request was last polled in full (epoch seconds), None if never (or unreadable)."""
    value = job.external_ids.get("polled_at")
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _task_ids(job: JobRef) -> list[int]:
    ids = []
    for task in job.external_ids.get("task_ids") or []:
        try:
            ids.append(int(task))
        except (TypeError, ValueError):
            continue
    return ids


def _epoch(value: Any) -> float:
    """Return a PanDA modification time as epoch seconds; naive times are UTC. Unreadable: +infinity."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return float("inf")
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return float("inf")


def _answers(config: PandaConfig) -> bool:
    """Whether PanDA (and iDDS behind its relay) answers a ping now."""
    try:
        idds_call(config, "ping")
    except PandaError:
        return False
    return True


def _job_errors(panda_job: Mapping[str, Any]) -> list[str]:
    messages = []
    for kind in ("exe", "pilot", "sup", "ddm", "brokerage", "job_dispatcher", "task_buffer"):
        diag = panda_job.get(f"{kind}_error_diag")
        if diag:
            code = panda_job.get(f"{kind}_error_code")
            messages.append(f"{diag} ({kind} error {code})" if code else str(diag))
    if not messages and panda_job.get("trans_exit_code") not in (None, 0, "0"):
        messages.append(f"exit code {panda_job['trans_exit_code']}")
    return messages
