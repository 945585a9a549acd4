"""Collect a movement's files at a source Butler, and ingest arrived files at the destination.

The destination side does what ctrl_ingestd does when Rucio says a file has
arrived: dimension files are imported first (``Butler.import_``), zips go in
with ``Butler.ingest_zip``, and data products and raws with
``Butler.ingest`` and the `DatasetRef` carried in their ``rubin_sidecar``
metadata, so dataset ids and runs are kept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from stack.paths import safe_join

from .registration import (
    DataType,
    RucioDID,
    rubin_file,
    sidecar,
)

__all__ = [
    "ArrivedFile",
    "IngestResult",
    "collect_source_files",
    "ingest_arrived",
]

STAGING_DIR = "msproc_rucio"  # under each source Butler root: dimension files and zips made for Rucio


class _RecordCollector:
    """Stands in for a destination Butler to collect the records `copy_visit_records` would insert."""

    def __init__(self) -> None:
        self.records: dict[str, list[Any]] = {}
        self.registry = self

    def insertDimensionData(self, element: str, *records: Any, skip_existing: bool = False) -> None:
        self.records.setdefault(element, []).extend(records)


def _export_dimensions(source: Any, refs: Sequence[Any], path: Path) -> None:
    """Write the dimension records of ``refs`` (and the visits of their exposures, and the skymap) as YAML."""
    from stack.transfer import SKYMAP_ELEMENTS, copy_exposure_visits

    collector = _RecordCollector()
    copy_exposure_visits(source, collector, refs)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with source.export(filename=str(partial), format="yaml") as export:
        export.saveDataIds([ref.dataId for ref in refs])
        for element in SKYMAP_ELEMENTS:
            records = list(source.registry.queryDimensionRecords(element))
            if records:
                export.saveDimensionData(element, records)
        for element, records in collector.records.items():
            if element == "group":
                continue  # exposures' groups are already in the data IDs' records
            unique = {record.dataId: record for record in records}
            export.saveDimensionData(element, unique.values())
    os.replace(partial, path)


def collect_source_files(
    source: Any,
    root: str | Path,
    dataset_types: Iterable[str],
    collections: Sequence[str],
    where_for: Mapping[str, str],
    *,
    stage_name: str,
    scope: str,
    zip_runs: bool = False,
    chains: dict[str, set[str]] | None = None,
) -> list[RucioDID]:
    """Return the files (`RucioDID` in ``scope``) that carry the matching datasets of ``source`` (a Butler at ``root``).

    The first file is the dimension file (YAML export of the records the
    datasets need). With ``zip_runs`` datasets are zipped per RUN collection
    (``zip_file``); otherwise each dataset's file is a ``data_product`` (or a
    ``raw_file`` for raws) with its ref as sidecar. Staged files are written
    under ``root/msproc_rucio/<stage_name>/`` and reused when present.
    With ``chains`` (a dict, filled in place) each of ``collections`` that is
    CHAINED at the source maps to the RUN collections of the datasets found
    through it, so that the destination can rebuild the chain
    (`ingest_arrived`), as the local backend does.
    Raises `ValueError` for a dataset file outside ``root``.
    """
    from lsst.daf.butler import CollectionType, MissingCollectionError

    from stack.transfer import find_refs

    refs = []
    for collection in collections:
        try:
            chained = source.registry.getCollectionType(collection) == CollectionType.CHAINED
        except MissingCollectionError:
            continue
        for dataset_type in dataset_types:
            found = find_refs(source, [dataset_type], [collection], where_for.get(dataset_type, ""))
            refs.extend(found[dataset_type])
            if chained and chains is not None and found[dataset_type]:
                chains.setdefault(collection, set()).update(ref.run for ref in found[dataset_type])
    unique = {ref.id: ref for ref in refs}
    refs = sorted(unique.values(), key=lambda ref: (ref.datasetType.name, str(ref.run), str(ref.id)))
    if not refs:
        return []
    # Site codes and run names become directories here: checked components, under the repository root.
    stage = safe_join(root, STAGING_DIR, *stage_name.split("/"), field="stage_name")
    dim_path = stage / "dimensions.yaml"
    if not dim_path.exists():
        _export_dimensions(source, refs, dim_path)
    files = [rubin_file(root, dim_path, DataType.DIM_FILE, scope=scope)]
    if zip_runs:
        by_run: dict[str, list[Any]] = {}
        for ref in refs:
            by_run.setdefault(ref.run, []).append(ref)
        for run, run_refs in sorted(by_run.items()):
            run_dir = safe_join(stage, "zips", run.replace("/", "_"), field="run")
            existing = sorted(run_dir.glob("*.zip")) if run_dir.exists() else []
            if not existing:
                run_dir.mkdir(parents=True, exist_ok=True)
                existing = [Path(source.retrieve_artifacts_zip(run_refs, destination=str(run_dir)).ospath)]
            files.extend(rubin_file(root, path, DataType.ZIP_FILE, scope=scope) for path in existing)
        return files
    for ref in refs:
        uri = source.getURI(ref)
        kind = DataType.RAW_FILE if ref.datasetType.name == "raw" else DataType.DATA_PRODUCT
        files.append(rubin_file(root, uri.ospath, kind, sidecar(ref), scope=scope))
    return files


@dataclass(frozen=True)
class ArrivedFile:
    """A file of the movement's dataset as it is at the destination RSE."""

    name: str
    uri: str
    kind: str
    sidecar: dict | None = None


@dataclass
class IngestResult:
    """What `ingest_arrived` did: records imported (files), zips and datasets ingested."""

    dimension_files: int = 0
    zips: int = 0
    datasets: int = 0
    runs: set[str] = field(default_factory=set)
    chains: dict[str, list[str]] = field(default_factory=dict)


def _local(uri: str) -> str:
    return urlparse(uri).path if uri.startswith("file:") else uri


def _transfer_mode(path: str, root: str, remote_mode: str) -> str | None:
    """In place (None) for a file inside the destination datastore root, ``remote_mode`` otherwise."""
    if "://" not in path:
        try:
            Path(path).resolve().relative_to(Path(root).resolve())
            return None
        except ValueError:
            pass
    return remote_mode


def ingest_arrived(destination: Any, root: str | Path, files: Sequence[ArrivedFile], *,
                   transfer: str = "direct", chains: Mapping[str, Iterable[str]] | None = None) -> IngestResult:
    """Ingest arrived files into the destination Butler, dimension files first, then zips, then datasets.

    Datasets already there are skipped, so a repeated ingest is harmless.
    ``transfer`` applies to files outside the datastore root (files inside are
    ingested in place). ``chains`` maps a CHAINED collection of the source to
    its runs that moved: those of them now at the destination are prepended
    to a CHAINED collection of that name there (created if needed), as the
    local backend does. Returns an `IngestResult`. Raises `ValueError` for a
    data product without a sidecar, and the Butler's errors otherwise.
    """
    from lsst.daf.butler import CollectionType, DatasetRef, FileDataset

    from stack.transfer import prepend_runs

    result = IngestResult()
    for arrived in (f for f in files if f.kind == DataType.DIM_FILE):
        destination.import_(filename=_local(arrived.uri), format="yaml")
        result.dimension_files += 1
    for arrived in (f for f in files if f.kind == DataType.ZIP_FILE):
        path = _local(arrived.uri)
        destination.ingest_zip(path, transfer=_transfer_mode(path, str(root), transfer) or "auto",
                               transfer_dimensions=True, skip_existing=True)
        result.zips += 1
    datasets: dict[str | None, list[Any]] = {}
    for arrived in (f for f in files if f.kind in (DataType.DATA_PRODUCT, DataType.RAW_FILE)):
        if not arrived.sidecar:
            raise ValueError(f"{arrived.name} has no rubin_sidecar metadata: cannot ingest it")
        ref = DatasetRef.from_json(json.dumps(arrived.sidecar), universe=destination.dimensions)
        destination.registry.registerDatasetType(ref.datasetType)
        destination.registry.registerCollection(ref.run, CollectionType.RUN)
        result.runs.add(ref.run)
        path = _local(arrived.uri)
        datasets.setdefault(_transfer_mode(path, str(root), transfer), []).append(FileDataset(path=path, refs=[ref]))
    for mode, group in datasets.items():
        destination.ingest(*group, transfer=mode, skip_existing=True)
        result.datasets += len(group)
    if chains:
        present = set(destination.registry.queryCollections(collectionTypes=CollectionType.RUN))
        for chain, runs in sorted(chains.items()):
            arrived = sorted(set(runs) & present)
            if arrived:
                prepend_runs(destination, chain, arrived)
                result.chains[chain] = arrived
    return result


