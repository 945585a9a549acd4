"""Check what a finished campaign left in each site's Butler repository against what it planned, moved and made.

Everything is scoped to this campaign, so two campaigns sharing the sites never blame each other:

* **Products** (outputs of its steps) are looked at only in its own collections (``{output_prefix}/*``), and
  each dataset is attributed by its RUN to the site whose group made it (the campaign's Job rows). At every
  site, the datasets made elsewhere must be exactly what this campaign's done movements carried there, piece by
  piece per source site (a piece is the dataset's exposure/visit, tract and healpixN values): nothing missing, nothing
  extra, nothing from a site no movement came from. A dataset (same type and data ID) made by two different
  groups of the campaign is reported as made or moved twice.
* **Inputs and defaults** (what setup movements brought from the hub) live in shared collections, so a site
  must hold every piece this campaign moved there; a piece there that no movement of this campaign nor of any
  other campaign brought to that site is reported as never planned.
* The hub's tape: the archived zips with a verified manifest (the local tape directory's, or the one the Rucio
  archive movement wrote, re-checked against the files on tape), and every dataset of an archived type that the
  hub holds in this campaign's collections (returned, made at the hub, or brought there for one of its steps)
  is in one of those zips, where they are readable here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.conf import settings

from sites.models import ButlerRepo
from stack.paths import UnsafePath
from transfers.backends.rucio.backend import ARCHIVE_MANIFEST
from transfers.backends.rucio.registration import adler32
from transfers.choices import MovementKind, MovementStatus
from transfers.models import Movement
from transfers.services import movement_dir, tape_dir

from .models import Campaign, Job

#: The data-ID keys a piece is made of (see the planner's restriction keys), besides any ``healpixN`` sky pixel.
PIECE_KEYS = ("exposure", "visit", "tract")

Piece = tuple[tuple[str, int], ...]


def _is_healpix(dimension: str) -> bool:
    return dimension.startswith("healpix") and dimension[len("healpix"):].isdigit()


def piece_keys(dimensions: set[str]) -> tuple[str, ...]:
    """Return the data-ID keys that tell two pieces of a dataset type with ``dimensions`` apart.

    ``exposure``, ``visit``, ``tract`` and any ``healpixN`` among them: a per-pixel dataset type of a regional step
    (e.g. ``healpix3``) counts one piece per pixel, so a missing pixel is reported like a missing visit.
    """
    return (*(key for key in PIECE_KEYS if key in dimensions), *sorted(d for d in dimensions if _is_healpix(d)))


def _piece(ref: Any, dimensions: set[str]) -> Piece:
    return tuple((key, int(ref.dataId[key])) for key in piece_keys(dimensions))


def _where(movement: Movement, dimensions: set[str], instrument: str, skymap: str) -> str:
    terms = []
    for key, values in movement.data_ids.items():
        if key in dimensions and values:
            terms.append(f"{key} IN ({', '.join(str(int(v)) for v in values)})")
    if not terms:
        return ""
    scopes = [f"instrument = '{instrument}'"] if {"exposure", "visit"} & set(movement.data_ids) & dimensions else []
    if "tract" in dimensions and movement.data_ids.get("tract"):
        scopes.append(f"skymap = '{skymap}'")
    return " AND ".join(scopes + terms)


class _Repos:
    """Opens each site's Butler once and answers dataset queries (a missing dataset type is no dataset)."""

    def __init__(self) -> None:
        self.roots = {repo.site.code: repo.root_uri for repo in ButlerRepo.objects.filter(
            name=settings.MSPROC_REPO_NAME).select_related("site")}
        self._open: dict[str, Any] = {}

    def query(self, site: str, dataset_type: str, collections: list[str] | str, where: str = "") -> list:
        from lsst.daf.butler import Butler, MissingDatasetTypeError

        if site not in self._open:
            self._open[site] = Butler.from_config(self.roots[site])
        try:
            return self._open[site].query_datasets(dataset_type, collections=collections, where=where,
                                                   find_first=False, explain=False, limit=None)
        except MissingDatasetTypeError:
            return []
        except Exception as err:  # e.g. no collection matches the campaign's prefix yet
            if "collection" in str(err).lower():
                return []
            raise


def verify_campaign(campaign: Campaign) -> list[str]:
    """Return the problems found (empty: every site holds exactly what this campaign planned, moved and made)."""
    import lsst.pipe.base.tests.mocks  # noqa: F401  (mock storage classes)

    repos = _Repos()
    movements = list(Movement.objects.filter(campaign=campaign).exclude(kind=MovementKind.ARCHIVE)
                     .exclude(status=MovementStatus.CANCELLED).select_related("destination")
                     .prefetch_related("sources", "dataset_types"))
    problems = [f"movement {m.key} is {m.status}" for m in movements if m.status != MovementStatus.DONE]
    done = [m for m in movements if m.status == MovementStatus.DONE]
    problems += _check_products(campaign, repos, done)
    problems += _check_inputs(campaign, repos, done)
    problems += _check_archive(campaign, repos)
    return problems


def _campaign_sites(campaign: Campaign) -> list[str]:
    plan = campaign.plan or {}
    return [site["code"] for site in plan.get("sites", [])] or [campaign.hub.code]


def _check_products(campaign: Campaign, repos: _Repos, done: list[Movement]) -> list[str]:
    plan = campaign.plan or {}
    run_site: dict[str, str] = dict(Job.objects.filter(group__campaign=campaign)
                                    .values_list("run_collection", "group__site__code"))
    products = sorted({name for step in plan.get("steps", []) for name in step.get("outputs", [])})
    own = f"{campaign.output_prefix}/*"
    instrument, skymap = plan.get("instrument", ""), plan.get("skymap", "")
    # expected[(destination, dataset type)][source] = pieces the done movements carried
    expected: dict[tuple[str, str], dict[str, set[Piece]]] = defaultdict(lambda: defaultdict(set))
    dimensions: dict[str, set[str]] = {}
    for movement in done:
        if movement.kind == MovementKind.SETUP:
            continue
        for dataset_type in movement.dataset_types.all():
            dims = dimensions.setdefault(dataset_type.name, set(dataset_type.dimensions))
            where = _where(movement, dims, instrument, skymap)
            for source in movement.sources.all():
                made_there = [ref for ref in repos.query(source.code, dataset_type.name, own, where)
                              if run_site.get(ref.run) == source.code]
                expected[(movement.destination.code, dataset_type.name)][source.code].update(
                    _piece(ref, dims) for ref in made_there)
    problems: list[str] = []
    for site in _campaign_sites(campaign):
        if site not in repos.roots:
            continue
        for dataset_type in products:
            refs = repos.query(site, dataset_type, own)
            if not refs:
                if any(expected.get((site, dataset_type), {}).values()):
                    problems.append(f"{site}: no {dataset_type} arrived")
                continue
            dims = dimensions.get(dataset_type) or set(refs[0].datasetType.dimensions.names)
            found: dict[str, set[Piece]] = defaultdict(set)
            makers: dict[tuple, set[str]] = defaultdict(set)
            for ref in refs:
                maker = run_site.get(ref.run)
                if maker is None:
                    problems.append(f"{site}: {dataset_type} in {ref.run}, a run of no job of this campaign")
                    continue
                makers[tuple(sorted(ref.dataId.required.items()))].add(ref.run.rsplit("/attempt", 1)[0])
                if maker != site:
                    found[maker].add(_piece(ref, dims))
            twice = [data_id for data_id, groups in makers.items() if len(groups) > 1]
            if twice:
                problems.append(f"{site}: {dataset_type} made or moved twice: {[dict(d) for d in twice[:5]]}")
            wanted = expected.get((site, dataset_type), {})
            for source in sorted(set(found) | set(wanted)):
                missing = sorted(wanted.get(source, set()) - found.get(source, set()))
                extra = sorted(found.get(source, set()) - wanted.get(source, set()))
                if missing or extra:
                    problems.append(f"{site}: {dataset_type} from {source}: missing {_show(missing)}, "
                                    f"unexpected {_show(extra)}")
    return problems


def _show(pieces: list[Piece]) -> list:
    return [dict(piece) if len(piece) > 1 else piece[0][1] for piece in pieces[:10]]


def _check_inputs(campaign: Campaign, repos: _Repos, done: list[Movement]) -> list[str]:
    """Every piece of an input or default this campaign moved is there; a piece nobody planned is reported."""
    expected: dict[tuple[str, str], dict[str, set[int]] | None] = {}
    collections: dict[tuple[str, str], set[str]] = defaultdict(set)
    for movement in done:
        if movement.kind != MovementKind.SETUP:
            continue
        for dataset_type in movement.dataset_types.all():
            slot = (movement.destination.code, dataset_type.name)
            collections[slot].update(movement.collections)
            keys = [k for k in movement.data_ids if k in dataset_type.dimensions and movement.data_ids[k]]
            if not keys:
                expected[slot] = None
                continue
            current = expected.setdefault(slot, {})
            if current is not None:
                for key in keys:
                    current.setdefault(key, set()).update(int(v) for v in movement.data_ids[key])
    hub = campaign.hub.code
    # raws are checked at every participating site, also one this campaign moved none to.
    for site in _campaign_sites(campaign):
        if site != hub and (site, "raw") not in expected:
            expected[(site, "raw")] = {"exposure": set()}
    problems: list[str] = []
    for (site, dataset_type), keys in sorted(expected.items(), key=lambda item: item[0]):
        if site not in repos.roots:
            continue
        refs = repos.query(site, dataset_type, sorted(collections[(site, dataset_type)]) or "*")
        if keys is None:
            if not refs:
                problems.append(f"{site}: no {dataset_type} arrived")
            continue
        for key, values in keys.items():
            found = {int(ref.dataId[key]) for ref in refs}
            missing = sorted(values - found)
            extra = found - values
            if extra:
                extra -= _planned_by_anyone(site, dataset_type, key)
            if missing or extra:
                problems.append(f"{site}: {dataset_type} by {key}: missing {missing[:10]}, "
                                f"unexpected (never planned) {sorted(extra)[:10]}")
    return problems


def _planned_by_anyone(site: str, dataset_type: str, key: str) -> set[int]:
    """Return the ``key`` values any campaign's (not cancelled) movements bring of ``dataset_type`` to ``site``."""
    planned: set[int] = set()
    for data_ids in (Movement.objects.filter(destination__code=site, dataset_types__name=dataset_type)
                     .exclude(status=MovementStatus.CANCELLED).values_list("data_ids", flat=True)):
        planned.update(int(v) for v in (data_ids or {}).get(key, []))
    return planned


def _check_archive(campaign: Campaign, repos: _Repos) -> list[str]:
    """The archive: the local tape directory's manifest, or for an archive Rucio carried (it has a rule) the
    manifest its verification wrote, re-checked against the files on tape where they are readable here; and
    every dataset of an archived type the hub holds in this campaign's collections is in a zip on tape."""
    from stack.transfer import verify_archive

    movements = list(Movement.objects.filter(campaign=campaign, kind=MovementKind.ARCHIVE).exclude(
        status=MovementStatus.CANCELLED))  # e.g. a re-plan left nothing to return, so nothing to archive
    if not movements:
        return []
    problems: list[str] = []
    if any(not (m.external_ids or {}).get("rule_id") for m in movements):
        try:
            tape = tape_dir(campaign.name)
        except UnsafePath as exc:
            return [f"archive: {exc}"]
        if not (tape / "MANIFEST.json").exists():
            problems.append(f"no archive manifest in {tape}")
        else:
            problems += [f"archive: {problem}" for problem in verify_archive(tape)]
            zips = [tape / entry["name"] for entry in json.loads((tape / "MANIFEST.json").read_text())["files"]]
            problems += unarchived(campaign, repos, movements, _zipped(zips))
    for movement in movements:
        if (movement.external_ids or {}).get("rule_id"):
            problems += _check_rucio_archive(movement)
            zips = _rucio_archive_zips(movement)
            if zips:  # only where the tape is readable from here: else Rucio's replica state was the check
                problems += unarchived(campaign, repos, [movement], _zipped(zips))
    return problems


def _zipped(zips: list[Path]) -> dict[Any, tuple[str, dict[str, Any]]]:
    from stack.transfer import zipped_datasets

    return zipped_datasets([path for path in zips if path.suffix == ".zip" and path.is_file()])


def unarchived(campaign: Campaign, repos: Any, movements: list[Movement],
               archived: dict[Any, tuple[str, dict[str, Any]]]) -> list[str]:
    """Return a problem per archived type of which a dataset at the hub is in none of the archive's zips.

    Every dataset (type and data ID) of an archived type that the hub holds in this campaign's collections —
    returned to it, made there, or brought there for one of its steps — must be archived; ``archived`` maps the
    zips' dataset ids to (dataset type, data ID; a zip's data IDs also hold implied values).
    """
    hub, own = campaign.hub.code, f"{campaign.output_prefix}/*"
    if hub not in repos.roots:
        return []
    problems = []
    for dataset_type in sorted({t.name for m in movements for t in m.dataset_types.all()}):
        at_hub = {_data_id(ref.dataId.required) for ref in repos.query(hub, dataset_type, own)}
        if not at_hub:
            continue
        keys = [key for key, _ in next(iter(at_hub))]  # a zip's data IDs also hold implied values: compare these
        on_tape = {tuple((key, data_id.get(key)) for key in keys) for name, data_id in archived.values()
                   if name == dataset_type}
        missing = sorted(at_hub - {_data_id(dict(piece)) for piece in on_tape})
        if missing:
            problems.append(f"archive: {len(missing)} {dataset_type} dataset(s) at {hub} are not archived: "
                            f"{[dict(d) for d in missing[:5]]}")
    return problems


def _data_id(values: Any) -> tuple[tuple[str, Any], ...]:
    """Return a data ID as a sorted tuple (ints as ints, other values as strings)."""
    return tuple(sorted((str(key), value if isinstance(value, int) else str(value)) for key, value in values.items()))


def _rucio_archive_zips(movement: Movement) -> list[Path]:
    """Return the zips on tape that the Rucio archive's manifest lists and that are readable here."""
    manifest_path = movement_dir(movement) / ARCHIVE_MANIFEST
    if not manifest_path.exists():
        return []
    paths = [Path(str(entry.get("pfn", ""))[len("file://"):])
             for entry in json.loads(manifest_path.read_text()).get("files", [])
             if str(entry.get("pfn", "")).startswith("file://")]
    return [path for path in paths if path.suffix == ".zip" and path.is_file()]


def _check_rucio_archive(movement: Movement) -> list[str]:
    manifest_path = movement_dir(movement) / ARCHIVE_MANIFEST
    if not manifest_path.exists():
        return [f"archive {movement.key}: no {ARCHIVE_MANIFEST} in {manifest_path.parent}"]
    manifest = json.loads(manifest_path.read_text())
    problems = []
    if not manifest.get("files"):
        problems.append(f"archive {movement.key}: the manifest lists no file")
    for entry in manifest.get("files", []):
        pfn = str(entry.get("pfn", ""))
        path = Path(pfn[len("file://"):]) if pfn.startswith("file://") else None
        if path is None:
            continue  # not readable from here: Rucio's replica state was the check
        if not path.exists():
            problems.append(f"archive {movement.key}: {entry['name']} is not on tape at {path}")
        elif adler32(path) != entry.get("adler32"):
            problems.append(f"archive {movement.key}: {entry['name']} on tape differs from its manifest")
    return problems
