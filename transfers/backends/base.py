"""The transfer backend interface (start, poll, ingest-and-verify) and its registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from core.registry import BackendRegistry


class TransferBackendError(Exception):
    """A transfer step failed. ``permanent`` errors need an operator; others are retried."""

    def __init__(self, message: str, *, permanent: bool = False, stuck: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.stuck = stuck


@dataclass(frozen=True)
class MovementRequest:
    """Everything a backend needs to carry one movement.

    ``sources`` maps site code to the Butler root of that site; ``data_ids``
    restricts each dataset type by the key among its ``dimensions``.
    """

    key: str
    kind: str
    sources: dict[str, str]
    destination: str
    destination_repo: str
    dataset_types: list[str]
    dimensions: dict[str, list[str]]
    collections: list[str]
    data_ids: dict[str, list[int]]
    instrument: str
    skymap: str
    work_dir: str
    expected_count: int | None = None
    archive_from: list[str] = field(default_factory=list)
    tape_dir: str = ""
    #: For an archive movement: the external ids of the movements it archives (Rucio: their scope and dataset).
    archive_ids: list[dict[str, Any]] = field(default_factory=list)

    def where_for(self, dataset_type: str) -> str:
        """Return the Butler where-clause restricting ``dataset_type`` to this movement's data IDs.

        Every key of ``data_ids`` among the dataset type's dimensions restricts it (a per-visit-and-tract
        type by its visits and its tracts); "" when none does.
        """
        dims = set(self.dimensions.get(dataset_type, []))
        terms = []
        for key, values in self.data_ids.items():
            if key in dims and values:
                scope = f"skymap = '{self.skymap}'" if key == "tract" else f"instrument = '{self.instrument}'"
                if scope not in terms:
                    terms.append(scope)
                terms.append(f"{key} IN ({', '.join(str(int(v)) for v in values)})")
        return " AND ".join(terms)


@dataclass(frozen=True)
class TransferProgress:
    """Where a started movement stands: still moving, arrived (not yet ingested), or stuck."""

    state: Literal["transferring", "arrived", "stuck", "failed"]
    transferred: int = 0
    bytes: int = 0
    reason: str = ""


class TransferBackend(ABC):
    """Start, poll, ingest, retry and cancel movements. ``start`` must be idempotent by movement key."""

    name: ClassVar[str]

    @abstractmethod
    def start(self, request: MovementRequest) -> dict[str, Any]:
        """Register what moves and request the replication; return external ids. Raises TransferBackendError."""

    @abstractmethod
    def poll(self, requests: Sequence[tuple[MovementRequest, dict[str, Any]]]) -> dict[str, TransferProgress]:
        """Return the progress of many movements at once, keyed by movement key."""

    @abstractmethod
    def ingest(self, request: MovementRequest) -> int:
        """Ingest what arrived into the destination Butler and return the verified count.

        Raises TransferBackendError when the destination does not hold what the plan expects.
        """

    def retry(self, external_ids: dict[str, Any]) -> dict[str, Any]:
        """Retry what the backend holds for a stuck or failed movement before it restarts (Rucio: its rule);
        return the external ids to keep. By default the backend holds nothing to retry: the ids come back
        unchanged. Raises TransferBackendError when the backend could not retry (the movement stays as it is).
        """
        return dict(external_ids)

    def cancel(self, external_ids: dict[str, Any]) -> None:
        """Remove what the backend holds for a cancelled movement (Rucio: its rule). Idempotent; by default the
        backend holds nothing. Raises TransferBackendError when the backend could not be reached.
        """
        return None


_BACKENDS: BackendRegistry[TransferBackend] = BackendRegistry(
    "transfer backend",
    {
        "local": "transfers.backends.local.LocalTransferBackend",
        "noop": "transfers.backends.noop.NoopTransferBackend",
        "rucio": "transfers.backends.rucio.backend.RucioTransferBackend",
    },
    lambda message: TransferBackendError(message, permanent=True),
)
register = _BACKENDS.register
get_transfer_backend = _BACKENDS.get
