"""Move datasets between local Butler repositories and archive zips.

Two ways to move, both verified at the destination (a movement is done only
when the datasets are queryable there and their files are stored):

* `transfer_datasets`: ``Butler.transfer_from(..., transfer="copy",
  register_dataset_types=True, transfer_dimensions=True)``;
* `zip_and_ingest`: ``Butler.retrieve_artifacts_zip`` at the source, then
  ``Butler.ingest_zip(..., transfer_dimensions=True)`` at the destination.

Skymap/tract/patch records are always copied (``skip_existing``) because
``transfer_dimensions`` carries only the records the datasets' data IDs use.
`archive` copies zips to a "tape" directory with a SHA-256 manifest.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Registers the "_mock_*" storage classes used by the mock pipeline outputs.
import lsst.pipe.base.tests.mocks  # noqa: F401
from lsst.daf.butler import Butler, CollectionType, DatasetRef, MissingDatasetTypeError

__all__ = [
    "ArchiveEntry",
    "ArchiveResult",
    "TransferError",
    "TransferResult",
    "count_expected_pairs",
    "prepend_runs",
    "ZipResult",
    "archive",
    "copy_exposure_visits",
    "copy_skymap_records",
    "copy_visit_records",
    "find_refs",
    "transfer_datasets",
    "verify_archive",
    "zip_and_ingest",
    "zip_at",
    "zipped_datasets",
]

SKYMAP_ELEMENTS = ("skymap", "tract", "patch")


class TransferError(RuntimeError):
    """A movement could not be completed or verified.

    ``permanent`` is true when retrying cannot help (e.g. unknown dataset type).
    """

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class TransferResult:
    """Outcome of a movement.

    ``expected``: datasets matching the query at the source; ``transferred``:
    datasets newly copied (already present ones are skipped); ``ingested``:
    expected datasets now found *and stored* at the destination.
    """

    expected: int
    transferred: int
    ingested: int
    per_dataset_type: dict[str, int] = field(default_factory=dict)
    runs: tuple[str, ...] = ()
    duration: float = 0.0
    #: bytes of the expected datasets' files as stored at the destination (measured, not estimated)
    bytes: int = 0

    @property
    def complete(self) -> bool:
        """True if every expected dataset is at the destination."""
        return self.ingested == self.expected


@dataclass(frozen=True)
class ZipResult:
    """Outcome of `zip_and_ingest`: the zip files and the verified counts."""

    zip_paths: tuple[Path, ...]
    expected: int
    ingested: int
    zip_bytes: int = 0
    duration: float = 0.0

    @property
    def complete(self) -> bool:
        """True if every expected dataset is at the destination."""
        return self.ingested == self.expected


@dataclass(frozen=True)
class ArchiveEntry:
    """One archived file."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ArchiveResult:
    """Outcome of `archive`: the manifest written and its entries."""

    manifest_path: Path
    entries: tuple[ArchiveEntry, ...]


def _open(root: str | Path | Butler, writeable: bool) -> Butler:
    if isinstance(root, Butler):
        return root
    return Butler.from_config(str(root), writeable=writeable)


def find_refs(
    butler: Butler,
    dataset_types: Iterable[str],
    collections: str | Sequence[str],
    where: str = "",
    bind: Mapping[str, Any] | None = None,
    *,
    find_first: bool = True,
) -> dict[str, list[DatasetRef]]:
    """Return ``{dataset_type: [refs]}`` matching the query (expanded data IDs).

    Dataset types that are not registered, or collections with no match,
    give empty lists.  Raises the Butler's query errors for a bad ``where``.
    """
    collections = [collections] if isinstance(collections, str) else list(collections)
    result: dict[str, list[DatasetRef]] = {}
    for name in dataset_types:
        try:
            refs = butler.query_datasets(
                name,
                collections=collections,
                where=where,
                bind=dict(bind or {}),
                find_first=find_first,
                with_dimension_records=True,
                explain=False,
                limit=None,
            )
        except MissingDatasetTypeError:
            refs = []
        result[name] = list(refs)
    return result


def copy_skymap_records(source: Butler, destination: Butler) -> int:
    """Copy all skymap, tract and patch records (existing ones skipped).

    Returns the number of records offered for insertion.
    """
    count = 0
    for element in SKYMAP_ELEMENTS:
        records = list(source.registry.queryDimensionRecords(element))
        if records:
            destination.registry.insertDimensionData(element, *records, skip_existing=True)
            count += len(records)
    return count


VISIT_ELEMENTS = (
    "instrument",
    "physical_filter",
    "detector",
    "visit_system",
    "day_obs",
    "group",
    "exposure",
    "visit",
    "visit_definition",
    "visit_system_membership",
    "visit_detector_region",
)


def copy_visit_records(source: Butler, destination: Butler, instrument: str, visits: Iterable[int]) -> int:
    """Copy the exposure/visit records of ``visits`` (and what they depend on).

    ``transfer_dimensions`` only carries the records a dataset's data ID
    uses, so raws (exposure-level) arrive without their visit definitions;
    this copies them, in registry insertion order, skipping existing records.
    Returns the number of records offered for insertion.
    """
    selected = sorted(set(visits))
    if not selected:
        return 0
    count = 0
    bind = {"instrument_name": instrument, "visits": selected}
    where = "instrument = instrument_name AND visit IN (visits)"
    for element in VISIT_ELEMENTS:
        if element == "group":
            # No join path from visit to group: take the groups of the exposures.
            exposures = source.registry.queryDimensionRecords("exposure", where=where, bind=bind)
            groups = sorted({e.group for e in exposures})
            records = [{"instrument": instrument, "name": group} for group in groups]
        else:
            # The query may repeat a record once per joined row: keep one per data ID.
            by_id = {r.dataId: r for r in source.registry.queryDimensionRecords(element, where=where, bind=bind)}
            records = list(by_id.values())
        if records:
            destination.registry.insertDimensionData(element, *records, skip_existing=True)
            count += len(records)
    return count


def copy_exposure_visits(source: Butler, destination: Butler, refs: Iterable[DatasetRef]) -> int:
    """Copy the visit records of the exposures that ``refs`` refer to (see `copy_visit_records`).

    Returns the number of records offered for insertion (0 if no ref has an exposure).
    """
    exposures: dict[str, set[int]] = {}
    for ref in refs:
        if "exposure" in ref.datasetType.dimensions.names:
            exposures.setdefault(str(ref.dataId["instrument"]), set()).add(int(ref.dataId["exposure"]))
    count = 0
    for instrument, ids in exposures.items():
        definitions = source.registry.queryDimensionRecords(
            "visit_definition",
            where="instrument = instrument_name AND exposure IN (exposures)",
            bind={"instrument_name": instrument, "exposures": sorted(ids)},
        )
        count += copy_visit_records(source, destination, instrument, {d.visit for d in definitions})
    return count


def prepend_runs(destination: Butler, chain: str, runs: Iterable[str]) -> None:
    """Put ``runs`` at the front of the CHAINED collection ``chain`` (created if needed).

    ``prepend_chain`` locks the chain, so concurrent writers (two groups finishing at one site, a
    movement arriving) never lose each other's runs.
    """
    destination.registry.registerCollection(chain, CollectionType.CHAINED)
    current = set(destination.registry.getCollectionChain(chain))
    missing = [run for run in sorted(set(runs)) if run not in current]
    if missing:
        destination.collections.prepend_chain(chain, missing)


def _present(destination: Butler, refs: Sequence[DatasetRef]) -> list[DatasetRef]:
    """Return the refs whose dataset id is registered at ``destination``.

    One query per dataset type over the refs' runs (per-ref look-ups cost
    ~4 ms each).
    """
    by_type: dict[str, list[DatasetRef]] = {}
    for ref in refs:
        by_type.setdefault(ref.datasetType.name, []).append(ref)
    present: list[DatasetRef] = []
    existing_runs = {name for name in destination.registry.queryCollections(collectionTypes={CollectionType.RUN})}
    for name, typed_refs in by_type.items():
        runs = sorted({ref.run for ref in typed_refs} & existing_runs)
        if not runs:
            continue
        try:
            found = destination.registry.queryDatasets(name, collections=runs, findFirst=False)
            ids = {ref.id for ref in found}
        except MissingDatasetTypeError:
            continue
        present.extend(ref for ref in typed_refs if ref.id in ids)
    return present


def stored_bytes(butler: Butler, refs: Iterable[DatasetRef]) -> dict[Any, int]:
    """Return ``{dataset id: bytes}``: the size of the files storing each of ``refs`` in ``butler``.

    The URIs come from one batched datastore look-up (``get_many_uris``). A file shared by several datasets
    (a zip of returned outputs: the URI's fragment names the member) counts once, for the first of them;
    a dataset with no stored file counts 0.
    """
    refs = list(refs)
    sizes: dict[Any, int] = {ref.id: 0 for ref in refs}
    if not refs:
        return sizes
    seen: set[str] = set()
    for ref, uris in butler.get_many_uris(refs, predict=False).items():
        for uri in ([uris.primaryURI] if uris.primaryURI is not None else []) + list(uris.componentURIs.values()):
            path = str(uri).split("#", 1)[0]
            if path in seen:
                continue
            seen.add(path)
            try:
                sizes[ref.id] += (uri.replace(fragment="") if uri.fragment else uri).size()
            except (FileNotFoundError, OSError):  # registered but not (or no longer) stored: nothing to count
                continue
    return sizes


def dataset_bytes(butler: Butler, refs: Iterable[DatasetRef]) -> int:
    """Return the bytes of the files that store ``refs`` in ``butler``, each file counted once."""
    return sum(stored_bytes(butler, refs).values())


def _verify(destination: Butler, refs: Sequence[DatasetRef]) -> int:
    """Return how many of ``refs`` are registered and stored at ``destination``."""
    known = _present(destination, refs)
    if not known:
        return 0
    stored = destination.stored_many(known)
    return sum(1 for ok in stored.values() if ok)


def transfer_datasets(
    src_root: str | Path | Butler,
    dst_root: str | Path | Butler,
    dataset_types: Iterable[str],
    collections: str | Sequence[str],
    where: str = "",
    bind: Mapping[str, Any] | None = None,
    *,
    chain: str | None = None,
    transfer: str = "copy",
    find_first: bool = True,
    carry_visits: bool = True,
) -> TransferResult:
    """Copy the matching datasets (with their dimension records) to another repo.

    With ``carry_visits`` the visit records (visit, visit_definition,
    visit_detector_region...) of exposure-level datasets such as raws are
    copied too, so a site can run visit-level tasks on moved raws.
    The RUN collections of the datasets are created at the destination; if
    ``chain`` is given they are also prepended to that CHAINED collection
    (created if needed).  Returns a `TransferResult` whose ``ingested`` is
    verified at the destination.  Raises `TransferError` (not permanent) if
    some expected datasets are missing at the destination afterwards.
    """
    started = time.monotonic()
    source = _open(src_root, writeable=False)
    destination = _open(dst_root, writeable=True)
    found = find_refs(source, dataset_types, collections, where, bind, find_first=find_first)
    refs = [ref for refs in found.values() for ref in refs]
    copy_skymap_records(source, destination)
    if carry_visits:
        copy_exposure_visits(source, destination, refs)
    already = len(_present(destination, refs))
    destination.transfer_from(
        source,
        refs,
        transfer=transfer,
        register_dataset_types=True,
        transfer_dimensions=True,
    )
    runs = tuple(sorted({ref.run for ref in refs}))
    if chain is not None and runs:
        prepend_runs(destination, chain, runs)
    ingested = _verify(destination, refs)
    result = TransferResult(
        expected=len(refs),
        transferred=max(ingested - already, 0),
        ingested=ingested,
        per_dataset_type={name: len(r) for name, r in found.items()},
        runs=runs,
        duration=time.monotonic() - started,
        bytes=dataset_bytes(destination, refs),
    )
    if not result.complete:
        raise TransferError(f"Only {ingested} of {len(refs)} datasets verified at the destination.")
    return result


def zip_and_ingest(
    src_root: str | Path | Butler,
    dst_root: str | Path | Butler,
    dataset_types: Iterable[str],
    collections: str | Sequence[str],
    where: str = "",
    zip_dir: str | Path = ".",
    bind: Mapping[str, Any] | None = None,
    *,
    chain: str | None = None,
    find_first: bool = True,
) -> ZipResult:
    """Zip the matching datasets at the source and ingest the zip at the destination.

    One zip is made per RUN collection (a zip holds datasets of one or more
    runs; one per run keeps archives aligned with jobs).  Skymap records are
    copied first; other records come from the zip (``transfer_dimensions``).
    Returns a `ZipResult`.  Raises `TransferError` if nothing matched
    (permanent) or if the destination does not hold every dataset afterwards.
    """
    started = time.monotonic()
    source = _open(src_root, writeable=False)
    destination = _open(dst_root, writeable=True)
    found = find_refs(source, dataset_types, collections, where, bind, find_first=find_first)
    refs = [ref for refs in found.values() for ref in refs]
    if not refs:
        raise TransferError(f"No {list(dataset_types)} datasets match {where!r} in {collections}.", permanent=True)
    zip_dir = Path(zip_dir)
    zip_dir.mkdir(parents=True, exist_ok=True)
    by_run: dict[str, list[DatasetRef]] = {}
    for ref in refs:
        by_run.setdefault(ref.run, []).append(ref)
    copy_skymap_records(source, destination)
    zips: list[Path] = []
    for _run, run_refs in sorted(by_run.items()):
        zip_uri = source.retrieve_artifacts_zip(run_refs, destination=str(zip_dir))
        zip_path = Path(zip_uri.ospath)
        destination.ingest_zip(str(zip_path), transfer="copy", transfer_dimensions=True, skip_existing=True)
        zips.append(zip_path)
    if chain is not None:
        prepend_runs(destination, chain, by_run)
    ingested = _verify(destination, refs)
    result = ZipResult(
        zip_paths=tuple(zips),
        expected=len(refs),
        ingested=ingested,
        zip_bytes=sum(p.stat().st_size for p in zips),
        duration=time.monotonic() - started,
    )
    if not result.complete:
        raise TransferError(f"Only {ingested} of {len(refs)} zipped datasets verified at the destination.")
    return result


def zipped_datasets(zip_paths: Iterable[str | Path]) -> dict[Any, tuple[str, dict[str, Any]]]:
    """Return ``{dataset id: (dataset type, data ID)}`` of every dataset the Butler zips ``zip_paths`` hold."""
    from lsst.daf.butler.datastores.file_datastore.retrieve_artifacts import ZipIndex
    from lsst.resources import ResourcePath

    found: dict[Any, tuple[str, dict[str, Any]]] = {}
    for path in zip_paths:
        index = ZipIndex.from_zip_file(ResourcePath(str(path)))
        for dataset_id, ref in index.refs.compact_refs.items():
            found[dataset_id] = (ref.dataset_type_name, dict(ref.data_id))
    return found


def zip_at(
    root: str | Path | Butler,
    dataset_types: Iterable[str],
    collections: Sequence[str],
    zip_dir: str | Path,
    *,
    skip: Iterable[Any] = (),
) -> list[Path]:
    """Zip, one zip per RUN, the datasets of ``dataset_types`` a repository holds in ``collections``.

    ``skip`` are dataset ids not to zip (e.g. those a return already zipped). A collection the repository does
    not have holds nothing. Returns the zip paths (none when nothing is left to zip).
    """
    from lsst.daf.butler import MissingCollectionError

    butler = _open(root, writeable=False)
    skipped = set(skip)
    by_run: dict[str, dict[Any, DatasetRef]] = {}
    for collection in collections:
        try:
            found = find_refs(butler, dataset_types, [collection])
        except MissingCollectionError:
            continue
        for refs in found.values():
            for ref in refs:
                if ref.id not in skipped:
                    by_run.setdefault(ref.run, {})[ref.id] = ref
    zip_dir = Path(zip_dir)
    zip_dir.mkdir(parents=True, exist_ok=True)
    return [Path(butler.retrieve_artifacts_zip(list(refs.values()), destination=str(zip_dir)).ospath)
            for _run, refs in sorted(by_run.items())]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def archive(
    zip_paths: Iterable[str | Path], tape_dir: str | Path, *, manifest_name: str = "MANIFEST.json"
) -> ArchiveResult:
    """Copy zips into ``tape_dir`` and write/extend a manifest of SHA-256 checksums.

    Each copy is checksummed again after copying.  The manifest
    (``tape_dir/manifest_name``, JSON ``{"files": [{name, size, sha256}]}``)
    keeps earlier entries; an entry with the same name is replaced.
    Returns the `ArchiveResult` (entries of this call only).  Raises
    `FileNotFoundError` for a missing zip, `TransferError` on a checksum
    mismatch after copying.
    """
    tape_dir = Path(tape_dir)
    tape_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = tape_dir / manifest_name
    existing: dict[str, dict[str, Any]] = {}
    if manifest_path.exists():
        existing = {e["name"]: e for e in json.loads(manifest_path.read_text())["files"]}
    entries: list[ArchiveEntry] = []
    for zip_path in map(Path, zip_paths):
        checksum = _sha256(zip_path)
        target = tape_dir / zip_path.name
        shutil.copy2(zip_path, target)
        if _sha256(target) != checksum:
            raise TransferError(f"Checksum mismatch after copying {zip_path} to {target}.")
        entry = ArchiveEntry(name=zip_path.name, size=target.stat().st_size, sha256=checksum)
        existing[entry.name] = {"name": entry.name, "size": entry.size, "sha256": entry.sha256}
        entries.append(entry)
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"files": sorted(existing.values(), key=lambda e: e["name"])}, indent=2))
    tmp.replace(manifest_path)
    return ArchiveResult(manifest_path=manifest_path, entries=tuple(entries))


def verify_archive(tape_dir: str | Path, *, manifest_name: str = "MANIFEST.json") -> list[str]:
    """Return the names of manifest entries whose file is missing or has a wrong checksum."""
    tape_dir = Path(tape_dir)
    manifest = json.loads((tape_dir / manifest_name).read_text())
    bad: list[str] = []
    for entry in manifest["files"]:
        path = tape_dir / entry["name"]
        if not path.exists() or path.stat().st_size != entry["size"] or _sha256(path) != entry["sha256"]:
            bad.append(entry["name"])
    return bad


def count_expected_pairs(
    butler: Butler,
    dataset_types: Iterable[str],
    dimensions: Mapping[str, Iterable[str]],
    data_ids: Mapping[str, Sequence[int]],
    where_for: Mapping[str, str],
) -> tuple[int, int]:
    """Return ``(pairs, whole)``: the (dataset type, data-ID piece) pairs queryable in ``butler`` for the
    restricted dataset types, and how many unrestricted dataset types have at least one dataset.

    A piece is the tuple of the dataset type's values of the ``data_ids`` keys among its dimensions (a visit,
    or a visit and a tract). This is what a movement's ``expected_count`` (planned pairs) is verified against,
    whatever backend carried it.
    """
    pairs = whole = 0
    for dataset_type in dataset_types:
        dims = set(dimensions.get(dataset_type, []))
        keys = [k for k in data_ids if k in dims and data_ids[k]]
        try:
            refs = butler.query_datasets(dataset_type, collections=["*"], where=where_for.get(dataset_type, ""),
                                         find_first=False, explain=False, limit=None)
        except MissingDatasetTypeError:
            refs = []
        if not keys:
            whole += 1 if refs else 0
        else:
            pairs += len({tuple(ref.dataId[key] for key in keys) for ref in refs})
    return pairs, whole
