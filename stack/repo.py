"""Create local Butler repositories and fill them with MockCam dimension records.

No obs package exists for the mock camera, so records are inserted by hand,
in the order the registry needs them (see STACK-NOTES.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import astropy.time
import astropy.units as u
from lsst.daf.butler import Butler, CollectionType, Timespan

from stack.paths import mark_created, remove_tree

from .survey import Survey

__all__ = [
    "create_repo",
    "ensure_run",
    "insert_instrument",
    "insert_skymap",
    "insert_survey_records",
    "open_repo",
    "unknown_names",
    "record_counts",
    "remove_repo",
    "repo_contents",
]

INSTRUMENT_CLASS = "stack.MockCam"  # not importable: no code loads it
VISIT_SYSTEM = 0
EXPOSURE_SECONDS = 30.0


def create_repo(root: str | Path, *, exist_ok: bool = False) -> Butler:
    """Create a SQLite-backed Butler repository at ``root``.

    Returns a writeable `Butler`.  With ``exist_ok`` an existing repository is
    opened instead.  Raises `FileExistsError` if a repository already exists
    and ``exist_ok`` is false.  The directory gets msproc's marker file
    (``stack.paths.mark_created``) before the Butler writes anything, so
    `remove_repo` may later delete it, and the leftovers of a failed attempt.
    """
    root = Path(root)
    if (root / "butler.yaml").exists():
        if not exist_ok:
            raise FileExistsError(f"A Butler repository already exists at {root}.")
        return open_repo(root)
    mark_created(root)
    Butler.makeRepo(str(root))
    return open_repo(root)


def open_repo(root: str | Path, *, writeable: bool = True) -> Butler:
    """Return a `Butler` on an existing repository.

    Raises `FileNotFoundError` if there is no repository at ``root``.
    """
    root = Path(root)
    if not (root / "butler.yaml").exists():
        raise FileNotFoundError(f"No Butler repository at {root}.")
    return Butler.from_config(str(root), writeable=writeable)


def unknown_names(
    root: str | Path,
    *,
    instrument: str,
    skymap: str,
    collections: Sequence[tuple[str, str]] = (),
    dataset_types: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """Return ``(field path, message)`` for each name the repository at ``root`` does not know.

    ``instrument`` and ``skymap`` must have dimension records; ``collections`` and ``dataset_types`` are
    ``(field path, name)`` pairs that must exist (a collection of any type, a registered dataset type).
    A spec naming data the hub lacks would otherwise plan, be saved, and then stall at its first movement.
    Raises `FileNotFoundError` if there is no repository at ``root``; the Butler's own errors when it
    cannot be read.
    """
    from lsst.daf.butler import MissingCollectionError, MissingDatasetTypeError

    problems: list[tuple[str, str]] = []
    with open_repo(root, writeable=False) as butler:
        for element, field, value in (("instrument", "instrument", instrument), ("skymap", "skymap", skymap)):
            known = sorted(str(record.name) for record in butler.query_dimension_records(element, explain=False))
            if value not in known:
                problems.append((field, f"the hub's Butler repository has no {element} {value!r}"
                                        f" (it has: {', '.join(known) or 'none'})"))
        for path, name in collections:
            try:
                butler.collections.get_info(name)
            except MissingCollectionError:
                problems.append((path, f"the hub's Butler repository has no collection {name!r}"))
        for path, name in dataset_types:
            try:
                butler.get_dataset_type(name)
            except MissingDatasetTypeError:
                problems.append((path, f"the hub's Butler repository has no dataset type {name!r}"))
    return problems


def remove_repo(root: str | Path, within: str | Path) -> bool:
    """Delete the repository directory at ``root`` if msproc created it under ``within``.

    Returns False if there was nothing to delete.  Raises `stack.paths.UnsafePath` if ``root`` is not
    under ``within`` (symlinks resolved) or has no msproc marker file: msproc never deletes what it did not
    create.
    """
    return remove_tree(root, within, field="root_uri")


def insert_instrument(butler: Butler, survey: Survey) -> None:
    """Insert instrument, physical_filter, detector and visit_system records.

    Existing records are kept (idempotent).
    """
    registry = butler.registry
    instrument = survey.instrument
    registry.insertDimensionData(
        "instrument",
        {
            "name": instrument,
            "visit_max": 1_000_000,
            "exposure_max": 1_000_000,
            "detector_max": 1000,
            "visit_system": VISIT_SYSTEM,
            "class_name": INSTRUMENT_CLASS,
        },
        skip_existing=True,
    )
    registry.insertDimensionData(
        "physical_filter",
        *[{"instrument": instrument, "name": survey.physical_filter(band), "band": band} for band in survey.bands],
        skip_existing=True,
    )
    registry.insertDimensionData(
        "detector",
        *[
            {
                "instrument": instrument,
                "id": detector,
                "full_name": f"R00_S{detector:02d}",
                "name_in_raft": f"S{detector:02d}",
                "raft": "R00",
                "purpose": "SCIENCE",
            }
            for detector in survey.detectors
        ],
        skip_existing=True,
    )
    registry.insertDimensionData(
        "visit_system",
        {"instrument": instrument, "id": VISIT_SYSTEM, "name": "one-to-one"},
        skip_existing=True,
    )


def _day_obs_timespan(day_obs: int) -> Timespan:
    start = astropy.time.Time(
        f"{day_obs // 10000:04d}-{day_obs // 100 % 100:02d}-{day_obs % 100:02d}T12:00:00", scale="tai"
    )
    return Timespan(start, start + 1 * u.day)


def insert_survey_records(butler: Butler, survey: Survey, visits: Iterable[int] | None = None) -> list[int]:
    """Insert the instrument and the exposure/visit records of ``visits``.

    With ``visits=None`` all the survey's visits are inserted.  Records that
    already exist are skipped, so this can be called repeatedly with different
    subsets (e.g. as a site receives more raws).  Returns the visits inserted
    (sorted).  Raises `KeyError` for a visit not in the survey.
    """
    selected = sorted(survey.visits if visits is None else set(visits))
    for visit in selected:
        if visit not in survey.visit_band:
            raise KeyError(f"Visit {visit} is not part of the survey.")
    insert_instrument(butler, survey)
    registry = butler.registry
    instrument = survey.instrument
    day_span = _day_obs_timespan(survey.day_obs)
    registry.insertDimensionData(
        "day_obs", {"instrument": instrument, "id": survey.day_obs, "timespan": day_span}, skip_existing=True
    )
    if not selected:
        return []
    night_start = day_span.begin + 10 * u.hour
    exposures, visit_rows, definitions, memberships, regions, groups = [], [], [], [], [], []
    for visit in selected:
        exposure = survey.exposure_of(visit)
        band = survey.visit_band[visit]
        begin = night_start + (visit * 40) * u.s
        span = Timespan(begin, begin + EXPOSURE_SECONDS * u.s)
        group = f"group_{exposure:06d}"
        groups.append({"instrument": instrument, "name": group})
        exposures.append(
            {
                "instrument": instrument,
                "id": exposure,
                "day_obs": survey.day_obs,
                "group": group,
                "physical_filter": survey.physical_filter(band),
                "obs_id": f"MC_O_{survey.day_obs}_{exposure:06d}",
                "exposure_time": EXPOSURE_SECONDS,
                "dark_time": EXPOSURE_SECONDS,
                "observation_type": "science",
                "observation_reason": "science",
                "seq_num": exposure,
                "seq_start": exposure,
                "seq_end": exposure,
                "target_name": "mock_field",
                "science_program": "mock",
                "has_simulated": True,
                "can_see_sky": True,
                "timespan": span,
            }
        )
        visit_rows.append(
            {
                "instrument": instrument,
                "id": visit,
                "day_obs": survey.day_obs,
                "physical_filter": survey.physical_filter(band),
                "name": f"MC_O_{survey.day_obs}_{visit:06d}",
                "seq_num": exposure,
                "exposure_time": EXPOSURE_SECONDS,
                "target_name": "mock_field",
                "observation_reason": "science",
                "science_program": "mock",
                "region": survey.visit_regions[visit],
                "timespan": span,
            }
        )
        definitions.append({"instrument": instrument, "exposure": exposure, "visit": visit})
        memberships.append({"instrument": instrument, "visit_system": VISIT_SYSTEM, "visit": visit})
        regions.extend(
            {
                "instrument": instrument,
                "visit": visit,
                "detector": detector,
                "region": survey.detector_regions[visit, detector],
            }
            for detector in survey.detectors
        )
    with butler.transaction():
        registry.insertDimensionData("group", *groups, skip_existing=True)
        registry.insertDimensionData("exposure", *exposures, skip_existing=True)
        registry.insertDimensionData("visit", *visit_rows, skip_existing=True)
        registry.insertDimensionData("visit_definition", *definitions, skip_existing=True)
        registry.insertDimensionData("visit_system_membership", *memberships, skip_existing=True)
        registry.insertDimensionData("visit_detector_region", *regions, skip_existing=True)
    return selected


def insert_skymap(butler: Butler, survey_or_skymap: Survey | object) -> None:
    """Insert the skymap, tract and patch records of a survey's mock skymap.

    Accepts a `Survey` or a `MockSkyMap`.  Existing records are skipped.
    """
    skymap = survey_or_skymap.skymap if isinstance(survey_or_skymap, Survey) else survey_or_skymap
    registry = butler.registry
    registry.insertDimensionData(
        "skymap",
        {
            "name": skymap.name,
            "hash": skymap.hash,
            "tract_max": skymap.tract_max,
            "patch_nx_max": skymap.patch_nx_max,
            "patch_ny_max": skymap.patch_ny_max,
        },
        skip_existing=True,
    )
    registry.insertDimensionData(
        "tract",
        *[{"skymap": skymap.name, "id": t.tract, "region": t.region} for t in skymap.tracts.values()],
        skip_existing=True,
    )
    registry.insertDimensionData(
        "patch",
        *[
            {
                "skymap": skymap.name,
                "tract": t.tract,
                "id": patch,
                "cell_x": patch % t.nx,
                "cell_y": patch // t.nx,
                "region": region,
            }
            for t in skymap.tracts.values()
            for patch, region in t.patches.items()
        ],
        skip_existing=True,
    )


def ensure_run(butler: Butler, run: str) -> bool:
    """Register a RUN collection if missing; returns True if it was created."""
    return butler.registry.registerCollection(run, CollectionType.RUN)


def repo_contents(butler: Butler, collections: str | Iterable[str] | None = None) -> dict[str, int]:
    """Return ``{dataset_type_name: count}`` for the datasets in the repository.

    ``collections`` defaults to every collection (``"*"``).  Dataset types
    with no datasets are left out.
    """
    # Mock storage classes must be importable to resolve dataset types.
    import lsst.pipe.base.tests.mocks  # noqa: F401

    if collections is None:
        collections = ["*"]
    elif isinstance(collections, str):
        collections = [collections]
    counts: Counter[str] = Counter()
    for dataset_type in butler.registry.queryDatasetTypes():
        refs = butler.registry.queryDatasets(dataset_type, collections=list(collections), findFirst=False)
        count = refs.count(exact=True)
        if count:
            counts[dataset_type.name] = count
    return dict(sorted(counts.items()))


def record_counts(
    butler: Butler,
    elements: Iterable[str] = ("exposure", "visit", "visit_detector_region", "tract", "patch"),
) -> dict[str, int]:
    """Return ``{dimension_element: number_of_records}`` for the given elements."""
    return {element: len(list(butler.registry.queryDimensionRecords(element))) for element in elements}
