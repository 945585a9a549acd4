"""The execution backend interface and its registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from core.registry import BackendRegistry
from stack.paths import UnsafePath, check_under, safe_collection

State = Literal["running", "succeeded", "partial", "failed", "held", "missing"]


class BackendError(Exception):
    """A backend call failed. ``permanent`` errors are not retried (bad request); others are (outage)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Submission:
    """Everything a backend needs to run one group attempt."""

    workflow_name: str
    site: str
    repo: str
    step: str
    pipeline: str
    inputs: list[str]
    output: str
    output_run: str
    step_chain: str
    data_query: str
    work_dir: str
    memory_mb: int
    bps_yaml: str = ""
    rescue: bool = False
    failures: list[dict[str, str]] = field(default_factory=list)
    timeout: int = 3600
    output_chain: str = ""  # the campaign's {out}/output CHAINED collection at the site
    # A regional (healpix) group's quanta, as columns of a data-ID table whose rows are their product
    # ({"healpix3": [281], "instrument": ["MockCam"], "visit": [...], "skymap": [...], "tract": [...]}):
    # the backend passes it to the quantum-graph builder (pipetask --data-id-table). Empty for other groups.
    data_id_table: dict[str, list] = field(default_factory=dict)
    dataset_query_constraint: str = ""  # pipetask --dataset-query-constraint ("" = its default; Step.query_constraint)
    # The site as the submission found it: its status (a backend refuses a site that is not online), where
    # its batch system is (PanDA's computeSite and computeCloud) and the queue for memory_mb (sites.queues.queue_for).
    site_status: str = "online"
    compute_site: str = ""
    compute_cloud: str = ""
    queue: str = ""


def check_submission_paths(submission: Submission, work_root: str) -> None:
    """Refuse a submission whose paths could leave their roots, before anything is written.

    ``work_dir`` must lie strictly under ``work_root`` (symlinks resolved); the collections the run
    creates (``output``, ``output_run``, ``step_chain``, ``output_chain``) must be relative names without
    ``..`` (the Butler's datastore makes a directory per RUN). Raises BackendError (permanent).
    """
    try:
        check_under(submission.work_dir, work_root, field="work_dir", strict=True)
        for field_name in ("output", "output_run", "step_chain", "output_chain"):
            value = getattr(submission, field_name)
            if value or field_name != "output_chain":
                safe_collection(value, field_name)
    except UnsafePath as exc:
        raise BackendError(f"refusing {submission.workflow_name}: {exc}", permanent=True) from None


@dataclass(frozen=True)
class JobRef:
    """What a backend needs to find a submitted attempt again."""

    workflow_name: str
    external_ids: dict[str, Any]
    work_dir: str


@dataclass(frozen=True)
class JobStatus:
    """The state of one attempt as the backend reports it, with quanta counts and errors."""

    state: State
    expected: int = 0
    succeeded: int = 0
    failed: int = 0
    error: str = ""
    log_tail: str = ""
    log_path: str = ""
    #: External ids learnt while polling (e.g. PanDA task ids created after the submit), merged into the Job's.
    external_ids: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.state in {"succeeded", "partial", "failed", "missing"}


@dataclass(frozen=True)
class Changes:
    """What a backend's change feed names as possibly changed: attempts by workflow name, and/or by the value
    of one of their external ids (``external_key``, e.g. PanDA's ``request_id``), and/or by a flag among their
    external ids (``flagged_key``)."""

    workflow_names: frozenset[str] = frozenset()
    external_key: str = ""
    external_values: frozenset[Any] = frozenset()
    #: Also every running attempt whose external id of this name is true: those the backend must be asked about
    #: every tick whatever the feed shows (PanDA's ``settling``: a request whose end touches no task).
    flagged_key: str = ""

    def __bool__(self) -> bool:
        return bool(self.workflow_names or self.external_values or self.flagged_key)


class ExecutionBackend(ABC):
    """Submit, poll, cancel group attempts. Implementations must be idempotent by workflow name."""

    name: ClassVar[str]
    #: True when ``changed`` can name the attempts that may have changed since a time: the tick then polls
    #: those (and a bounded sweep of the least recently polled), not every running attempt.
    has_change_feed: ClassVar[bool] = False

    @abstractmethod
    def submit(self, submission: Submission) -> dict[str, Any]:
        """Start the attempt (or find the one already started under that workflow name).

        Returns the external ids to store on the Job. Raises BackendError.
        """

    @abstractmethod
    def poll(self, jobs: Sequence[JobRef]) -> dict[str, JobStatus]:
        """Return the status of many attempts at once, keyed by workflow name. Raises BackendError."""

    @abstractmethod
    def cancel(self, job: JobRef) -> None:
        """Stop the attempt if it still runs. Raises BackendError."""

    def changed(self, since: float) -> Changes | None:
        """Return the attempts that may have changed at or after ``since`` (epoch seconds), or None when the
        backend cannot tell (then the tick polls all its running attempts). Only with ``has_change_feed``.

        Raises BackendError when the backend cannot be reached."""
        return None


_BACKENDS: BackendRegistry[ExecutionBackend] = BackendRegistry(
    "execution backend",
    {
        "local": "campaigns.backends.local.LocalExecutionBackend",
        "noop": "campaigns.backends.noop.NoopExecutionBackend",
        "panda": "campaigns.backends.panda.backend.PandaExecutionBackend",
    },
    lambda message: BackendError(message, permanent=True),
)
register = _BACKENDS.register
get_execution_backend = _BACKENDS.get
