"""Data inventory: which visits exist, their exposures and bands, and the tracts they overlap.

:class:`TableInventory` reads a CSV file (offline planning, benchmarks, tests);
:class:`ButlerInventory` reads a Butler repository's dimension records.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["ButlerInventory", "DataInventory", "InventoryError", "TableInventory", "VisitInfo"]


class InventoryError(Exception):
    """The inventory source cannot be read or is malformed."""


@dataclasses.dataclass(frozen=True)
class VisitInfo:
    """One visit: its (first) exposure, band, the tracts it overlaps (sorted) and its centre.

    ``ra``/``dec`` (degrees) place the visit in a sky pixel for regional
    (``healpixN``) steps; None when the inventory does not know them.
    """

    visit: int
    exposure: int
    band: str
    tracts: tuple[int, ...]
    ra: float | None = None
    dec: float | None = None


@runtime_checkable
class DataInventory(Protocol):
    """What the planner asks about the data."""

    def visits(self) -> list[VisitInfo]:
        """Return every visit, sorted by visit id."""
        ...

    def tracts(self) -> list[int]:
        """Return every tract overlapped by at least one visit, sorted."""
        ...


class _StaticInventory:
    """An inventory held in memory (base of the concrete ones)."""

    def __init__(self, visits: Iterable[VisitInfo]) -> None:
        self._visits = sorted(visits, key=lambda info: info.visit)

    def visits(self) -> list[VisitInfo]:
        """Return every visit, sorted by visit id."""
        return list(self._visits)

    def tracts(self) -> list[int]:
        """Return every tract overlapped by at least one visit, sorted."""
        return sorted({tract for info in self._visits for tract in info.tracts})


class TableInventory(_StaticInventory):
    """An inventory read from a CSV file with columns ``visit, exposure, band, tract``.

    One row per visit x overlapped tract. A visit without tracts may have an
    empty ``tract`` cell. Optional columns ``ra, dec`` (degrees) give the
    visit's centre (needed to plan regional steps).

    Raises:
        InventoryError: the file is missing, lacks a column, or a value is
            not an integer / a visit has two bands or exposures.
    """

    COLUMNS = ("visit", "exposure", "band", "tract")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            with self.path.open(newline="") as stream:
                reader = csv.DictReader(stream)
                rows = list(reader)
                missing = [column for column in self.COLUMNS if column not in (reader.fieldnames or [])]
        except OSError as err:
            raise InventoryError(f"cannot read inventory {self.path}: {err}") from err
        if missing:
            raise InventoryError(f"{self.path}: missing column(s) {', '.join(missing)}")
        super().__init__(self._collect(rows))

    def _collect(self, rows: Sequence[dict[str, str]]) -> list[VisitInfo]:
        found: dict[int, tuple[int, str, set[int]]] = {}
        centres: dict[int, tuple[float, float]] = {}
        for line, row in enumerate(rows, start=2):
            try:
                visit = int(row["visit"])
                exposure = int(row["exposure"])
                tract = int(row["tract"]) if row["tract"].strip() else None
                if (row.get("ra") or "").strip() and (row.get("dec") or "").strip():
                    centres[visit] = (float(row["ra"]), float(row["dec"]))
            except (TypeError, ValueError) as err:
                raise InventoryError(f"{self.path}:{line}: {err}") from err
            band = row["band"].strip()
            previous = found.setdefault(visit, (exposure, band, set()))
            if previous[:2] != (exposure, band):
                raise InventoryError(f"{self.path}:{line}: visit {visit} has two exposures or bands")
            if tract is not None:
                previous[2].add(tract)
        return [
            VisitInfo(visit, exposure, band, tuple(sorted(tracts)), *centres.get(visit, (None, None)))
            for visit, (exposure, band, tracts) in found.items()
        ]


class ButlerInventory(_StaticInventory):
    """An inventory read from a Butler repository's dimension records.

    Visits and their tracts come from a dimension query joining ``visit``
    and ``tract`` (the registry does the region overlap); the exposure of a
    visit is the lowest exposure in its ``visit_definition``.

    Raises:
        InventoryError: the repository cannot be opened or queried.
    """

    def __init__(
        self,
        repo_root: str | Path,
        instrument: str,
        skymap: str,
        collections: Sequence[str] | None = None,
    ) -> None:
        self.repo_root = str(repo_root)
        self.instrument = instrument
        self.skymap = skymap
        self.collections = list(collections) if collections else None
        super().__init__(self._query())

    def _query(self) -> list[VisitInfo]:
        from lsst.daf.butler import Butler

        try:
            butler = Butler.from_config(self.repo_root, collections=self.collections)
        except Exception as err:  # the Butler raises many kinds; all mean "cannot open"
            raise InventoryError(f"cannot open butler repo {self.repo_root}: {err}") from err
        try:
            with butler:
                bind = {"instrument": self.instrument, "skymap": self.skymap}
                band_of_filter = {
                    record.name: record.band
                    for record in butler.query_dimension_records(
                        "physical_filter", where="instrument = instrument", bind=bind, explain=False
                    )
                }
                band_of: dict[int, str] = {}
                centre_of: dict[int, tuple[float, float]] = {}
                for record in butler.query_dimension_records(
                    "visit", where="instrument = instrument", bind=bind, explain=False
                ):
                    band_of[record.id] = band_of_filter.get(record.physical_filter, "")
                    if record.region is not None:
                        centre_of[record.id] = _centre(record.region)
                exposure_of: dict[int, int] = {}
                for record in butler.query_dimension_records(
                    "visit_definition", where="instrument = instrument", bind=bind, explain=False
                ):
                    current = exposure_of.get(record.visit)
                    exposure_of[record.visit] = record.exposure if current is None else min(current, record.exposure)
                tracts_of: dict[int, set[int]] = {visit: set() for visit in band_of}
                for data_id in butler.query_data_ids(
                    ["visit", "tract"],
                    where="instrument = instrument AND skymap = skymap",
                    bind=bind,
                    explain=False,
                ):
                    tracts_of.setdefault(int(data_id["visit"]), set()).add(int(data_id["tract"]))
        except Exception as err:
            raise InventoryError(f"cannot query butler repo {self.repo_root}: {err}") from err
        return [
            VisitInfo(
                visit, exposure_of.get(visit, visit), band_of.get(visit, ""), tuple(sorted(tracts)),
                *centre_of.get(visit, (None, None)),
            )
            for visit, tracts in tracts_of.items()
        ]


def _centre(region: object) -> tuple[float, float]:
    """Return (ra, dec) in degrees of the centre of a sphgeom region's bounding circle."""
    from lsst.sphgeom import LonLat

    centre = LonLat(region.getBoundingCircle().getCenter())  # type: ignore[attr-defined]
    return centre.getLon().asDegrees(), centre.getLat().asDegrees()
