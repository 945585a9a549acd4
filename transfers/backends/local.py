"""Local transfers between the embedded sites' Butler repositories.

Data products and defaults move with ``Butler.transfer_from`` (dimension
records included); returned final outputs are zipped at the source and
ingested at the hub with ``ingest_zip``; archive movements copy those zips,
and zips made at the hub of the archived outputs no return carried (made at the
hub, or brought there for one of its steps), to the hub's tape directory with a
checksummed manifest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from stack.paths import UnsafePath, check_under, safe_join

from .base import MovementRequest, TransferBackend, TransferBackendError, TransferProgress

RESULT_FILE = "transfer.json"


def _chained(butler: Any, name: str) -> bool:
    from lsst.daf.butler import CollectionType, MissingCollectionError

    try:
        return butler.registry.getCollectionType(name) == CollectionType.CHAINED
    except MissingCollectionError:
        return False


def _tape_dir(request: MovementRequest) -> Path:
    """The request's tape directory, checked to lie strictly under ``MSPROC_TAPE_DIR`` (symlinks resolved)."""
    try:
        return check_under(request.tape_dir, settings.MSPROC_TAPE_DIR, field="tape_dir", strict=True)
    except UnsafePath as exc:
        raise TransferBackendError(f"refusing to archive: {exc}", permanent=True) from None


class LocalTransferBackend(TransferBackend):
    name = "local"

    def start(self, request: MovementRequest) -> dict[str, Any]:
        work_dir = Path(request.work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        try:
            outcome = self._archive(request) if request.kind == "archive" else self._copy(request)
        except TransferBackendError:
            raise
        except Exception as exc:  # the Butler raises many kinds; all mean this attempt failed
            raise TransferBackendError(f"{type(exc).__name__}: {exc}") from exc
        (work_dir / RESULT_FILE).write_text(json.dumps(outcome))
        return {"local": request.key}

    def _copy(self, request: MovementRequest) -> dict[str, Any]:
        import lsst.pipe.base.tests.mocks  # noqa: F401  (mock storage classes must be known to read them)
        from lsst.daf.butler import Butler

        from stack.transfer import TransferError, transfer_datasets, zip_and_ingest

        destination = Butler.from_config(request.destination_repo, writeable=True)
        transferred = moved_bytes = 0
        zips: list[str] = []
        for site, root in sorted(request.sources.items()):
            source = Butler.from_config(root)
            for collection in request.collections:
                chain = collection if _chained(source, collection) else None
                for dataset_type in request.dataset_types:
                    where = request.where_for(dataset_type)
                    try:
                        if request.kind == "return":
                            result = zip_and_ingest(source, destination, [dataset_type], [collection], where,
                                                    zip_dir=safe_join(request.work_dir, "zips", site, field="site"),
                                                    chain=chain)
                            zips += [str(p) for p in result.zip_paths]
                            moved_bytes += result.zip_bytes
                            transferred += result.ingested
                        else:
                            result = transfer_datasets(source, destination, [dataset_type], [collection], where,
                                                       chain=chain)
                            transferred += result.ingested
                            moved_bytes += result.bytes
                    except TransferError as exc:
                        if exc.permanent and "match" in str(exc):
                            continue  # nothing of this type in this collection at this source
                        raise TransferBackendError(str(exc), permanent=exc.permanent) from exc
        return {"transferred": transferred, "bytes": moved_bytes, "zips": zips}

    def _archive(self, request: MovementRequest) -> dict[str, Any]:
        """Archive the returns' zips and, zipped at the hub, every archived dataset no return carried (made
        at the hub, or brought there for one of its steps)."""
        import lsst.pipe.base.tests.mocks  # noqa: F401  (mock storage classes must be known to read them)

        from stack.transfer import archive, zip_at, zipped_datasets

        zips = sorted({str(p) for directory in request.archive_from for p in Path(directory).rglob("*.zip")})
        zips += [str(p) for p in zip_at(request.destination_repo, request.dataset_types, request.collections,
                                        safe_join(request.work_dir, "zips", request.destination, field="site"),
                                        skip=zipped_datasets(zips))]
        if not zips:
            raise TransferBackendError("no zip files to archive: the hub holds none of the archived outputs",
                                       permanent=True)
        result = archive([Path(z) for z in zips], _tape_dir(request))
        return {"transferred": len(result.entries), "bytes": sum(e.size for e in result.entries),
                "manifest": str(result.manifest_path)}

    def poll(self, requests: Sequence[tuple[MovementRequest, dict[str, Any]]]) -> dict[str, TransferProgress]:
        progress = {}
        for request, _ids in requests:
            path = Path(request.work_dir) / RESULT_FILE
            if not path.exists():
                progress[request.key] = TransferProgress(state="failed", reason="the transfer left no result")
                continue
            outcome = json.loads(path.read_text())
            progress[request.key] = TransferProgress(state="arrived", transferred=outcome["transferred"],
                                                     bytes=outcome.get("bytes", 0))
        return progress

    def ingest(self, request: MovementRequest) -> int:
        if request.kind == "archive":
            from stack.transfer import verify_archive

            problems = verify_archive(_tape_dir(request))
            if problems:
                raise TransferBackendError("archive verification failed: " + "; ".join(problems[:5]))
            outcome = json.loads((Path(request.work_dir) / RESULT_FILE).read_text())
            return int(outcome["transferred"])
        return self._verify(request)

    def _verify(self, request: MovementRequest) -> int:
        """Count the (dataset type, data-ID value) pairs the plan expects that are queryable at the destination."""
        from lsst.daf.butler import Butler

        from stack.transfer import count_expected_pairs

        butler = Butler.from_config(request.destination_repo)
        pairs, whole = count_expected_pairs(butler, request.dataset_types, request.dimensions, request.data_ids,
                                            {name: request.where_for(name) for name in request.dataset_types})
        if request.expected_count is not None and pairs < request.expected_count:
            raise TransferBackendError(
                f"only {pairs} of {request.expected_count} expected (dataset type, data ID) pairs are queryable "
                f"at {request.destination}", stuck=True)
        return pairs + whole
