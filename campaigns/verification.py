"""Check what a finished campaign left in each site's Butler repository against its plan.

Each site must hold exactly what the plan moved to it (no more, no less)
plus what it produced; the hub must hold the returned outputs, and the tape
the archived zips with a verified manifest (the local tape directory's, or the
one the Rucio archive movement wrote, re-checked against the files on tape).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from django.conf import settings

from sites.models import ButlerRepo
from transfers.choices import MovementKind
from transfers.models import Movement

from .models import Campaign, Job


def _received(campaign: Campaign) -> dict[str, dict[str, dict[str, set[int] | None]]]:
    """Return {site: {dataset type: {key: values}}} of what the done movements carried to each site."""
    received: dict[str, dict[str, dict[str, set[int] | None]]] = defaultdict(lambda: defaultdict(dict))
    for movement in (Movement.objects.filter(campaign=campaign, status="done").exclude(kind=MovementKind.ARCHIVE)
                     .select_related("destination").prefetch_related("dataset_types")):
        for dataset_type in movement.dataset_types.all():
            key = next((k for k in movement.data_ids if k in dataset_type.dimensions), None)
            slot = received[movement.destination.code][dataset_type.name]
            if key is None:
                slot["*"] = None
            else:
                values = slot.setdefault(key, set())
                values.update(int(v) for v in movement.data_ids[key])
    return received


def verify_campaign(campaign: Campaign) -> list[str]:
    """Return the problems found (empty: every site holds exactly what the plan says plus what it produced)."""
    import lsst.pipe.base.tests.mocks  # noqa: F401  (mock storage classes)
    from lsst.daf.butler import Butler, MissingDatasetTypeError

    problems: list[str] = []
    own_runs: dict[str, set[str]] = defaultdict(set)
    for site, run in Job.objects.filter(group__campaign=campaign).values_list("group__site__code", "run_collection"):
        own_runs[site].add(run)
    received = _received(campaign)
    repos = {repo.site.code: repo.root_uri for repo in ButlerRepo.objects.filter(
        name=settings.MSPROC_REPO_NAME).select_related("site")}
    hub = campaign.hub.code
    for site, types in sorted(received.items()):
        butler = Butler.from_config(repos[site])
        for dataset_type, keys in sorted(types.items()):
            try:
                refs = butler.query_datasets(dataset_type, collections=["*"], find_first=False, explain=False,
                                             limit=None)
            except MissingDatasetTypeError:
                refs = []
            foreign = [ref for ref in refs if ref.run not in own_runs[site]]
            if "*" in keys:
                if not foreign:
                    problems.append(f"{site}: no {dataset_type} arrived")
                continue
            for key, values in keys.items():
                found = {int(ref.dataId[key]) for ref in foreign}
                if site == hub and key in {"exposure", "visit"} and dataset_type == "raw":
                    continue  # the hub is where raws come from
                if found != values:
                    missing, extra = sorted(values - found), sorted(found - values)
                    problems.append(f"{site}: {dataset_type} by {key}: missing {missing[:10]}, unexpected {extra[:10]}")
    problems += _check_no_unplanned_raws(campaign, repos, received)
    problems += _check_archive(campaign)
    return problems


def _check_no_unplanned_raws(campaign: Campaign, repos: dict[str, str], received) -> list[str]:
    from lsst.daf.butler import Butler

    problems = []
    for site in (campaign.plan or {}).get("sites", []):
        code = site["code"]
        if code == campaign.hub.code:
            continue
        butler = Butler.from_config(repos[code])
        exposures = {int(ref.dataId["exposure"]) for ref in butler.query_datasets(
            "raw", collections=["*"], find_first=False, explain=False, limit=None)} if site["visits"] else set()
        planned = received.get(code, {}).get("raw", {}).get("exposure", set()) or set()
        if exposures != planned:
            problems.append(f"{code}: raws for exposures {sorted(exposures - planned)} were never planned")
    return problems


def _check_archive(campaign: Campaign) -> list[str]:
    """The archive: the local tape directory's manifest, or for an archive Rucio carried (it has a rule) the
    manifest its verification wrote, re-checked against the files on tape where they are readable here."""
    from msproc.lib.stack.transfer import verify_archive

    movements = list(Movement.objects.filter(campaign=campaign, kind=MovementKind.ARCHIVE))
    if not movements:
        return []
    problems: list[str] = []
    if any(not (m.external_ids or {}).get("rule_id") for m in movements):
        tape = Path(settings.MSPROC_TAPE_DIR) / campaign.name
        if not (tape / "MANIFEST.json").exists():
            problems.append(f"no archive manifest in {tape}")
        else:
            problems += [f"archive: {problem}" for problem in verify_archive(tape)]
    for movement in movements:
        if (movement.external_ids or {}).get("rule_id"):
            problems += _check_rucio_archive(movement)
    return problems


def _check_rucio_archive(movement: Movement) -> list[str]:
    import json

    from transfers.backends.rucio.backend import ARCHIVE_MANIFEST
    from transfers.backends.rucio.registration import adler32
    from transfers.services import movement_dir

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
