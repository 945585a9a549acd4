"""A small, deterministic synthetic survey for the mock camera "MockCam".

The geometry is deliberately simple so that overlap facts are obvious:

* tracts are 1 x 1 degree boxes centred on the equator, laid out in a row
  along right ascension in the order given, ``TRACT_SPACING_DEG`` apart (so
  there is a gap between neighbouring tracts);
* each tract is split into ``patches_per_side`` x ``patches_per_side`` patches;
* a *regular* visit sits inside one tract; its detectors are vertical strips
  of a 0.8 x 0.8 degree footprint, so it overlaps every patch of its tract;
* a *boundary* visit straddles the gap between two neighbouring tracts: the
  first half of its detectors sit on the right edge of the first tract, the
  second half on the left edge of the second one.

All regions are `lsst.sphgeom.ConvexPolygon` instances, and the overlap facts
(`Survey.visit_tracts`) are computed from those regions, so they agree with
what the Butler registry derives from the same records.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lsst.sphgeom import ConvexPolygon, LonLat, UnitVector3d

__all__ = [
    "DEFAULT_BANDS",
    "DEFAULT_TRACTS",
    "INSTRUMENT",
    "SKYMAP",
    "InventoryRow",
    "MockSkyMap",
    "Survey",
    "TractGeometry",
    "make_survey",
    "read_inventory",
    "write_inventory",
]

INSTRUMENT = "MockCam"
SKYMAP = "mock_skymap"
DEFAULT_TRACTS: tuple[int, ...] = (9469, 9470, 9941, 9942, 9948, 9949, 1, 2)
DEFAULT_BANDS: tuple[str, ...] = ("g", "r", "i")
TRACT_SPACING_DEG = 2.0
TRACT_HALF_WIDTH_DEG = 0.5
FIRST_RA_DEG = 10.0
DAY_OBS = 20250601

INVENTORY_COLUMNS = ("visit", "exposure", "band", "tract")


def _box(ra_min: float, ra_max: float, dec_min: float, dec_max: float) -> ConvexPolygon:
    """Return the convex polygon with the given corners (degrees)."""
    corners = [(ra_min, dec_min), (ra_max, dec_min), (ra_max, dec_max), (ra_min, dec_max)]
    return ConvexPolygon.convexHull([UnitVector3d(LonLat.fromDegrees(ra, dec)) for ra, dec in corners])


@dataclass(frozen=True)
class TractGeometry:
    """One tract of the mock skymap.

    ``patches`` maps the patch index (``y * nx + x``) to its region.
    """

    tract: int
    center_ra: float
    region: ConvexPolygon
    patches: dict[int, ConvexPolygon]
    nx: int
    ny: int


@dataclass(frozen=True)
class MockSkyMap:
    """A mock skymap: a name, a content hash and its tracts."""

    name: str
    tracts: dict[int, TractGeometry]

    @property
    def hash(self) -> bytes:
        """Return a stable digest of the geometry (the registry needs one)."""
        digest = hashlib.sha1(self.name.encode())
        for tract_id, tract in sorted(self.tracts.items()):
            digest.update(f"{tract_id}:{tract.center_ra}:{tract.nx}x{tract.ny}".encode())
        return digest.digest()

    @property
    def patch_nx_max(self) -> int:
        return max(t.nx for t in self.tracts.values())

    @property
    def patch_ny_max(self) -> int:
        return max(t.ny for t in self.tracts.values())

    @property
    def tract_max(self) -> int:
        return max(self.tracts) + 1


@dataclass(frozen=True)
class InventoryRow:
    """One row of the survey inventory table (one per visit and tract)."""

    visit: int
    exposure: int
    band: str
    tract: int


@dataclass(frozen=True)
class Survey:
    """A synthetic survey: skymap, detectors, visits and their geometry.

    Exposure ids equal visit ids (one exposure per visit).
    """

    instrument: str
    skymap: MockSkyMap
    bands: tuple[str, ...]
    detectors: tuple[int, ...]
    visits: tuple[int, ...]
    visit_band: dict[int, str]
    visit_regions: dict[int, ConvexPolygon]
    detector_regions: dict[tuple[int, int], ConvexPolygon]
    visit_tracts: dict[int, list[int]]
    visit_patches: dict[int, dict[int, list[int]]]
    boundary_visits: tuple[int, ...]
    day_obs: int = DAY_OBS
    seed: int = 0
    home_tract: dict[int, int] = field(default_factory=dict)

    @property
    def tracts(self) -> tuple[int, ...]:
        """Return the tract ids, in layout order."""
        return tuple(self.skymap.tracts)

    @property
    def detector_visit_tracts(self) -> dict[tuple[int, int], list[int]]:
        """Return the tracts overlapped by each (visit, detector)."""
        result: dict[tuple[int, int], list[int]] = {}
        for (visit, detector), region in self.detector_regions.items():
            result[visit, detector] = [t.tract for t in self.skymap.tracts.values() if region.overlaps(t.region)]
        return result

    def physical_filter(self, band: str) -> str:
        """Return the physical filter name of a band."""
        return f"{band}_mock"

    def exposure_of(self, visit: int) -> int:
        """Return the (single) exposure id of a visit."""
        return visit

    def tract_visits(self, tract: int) -> list[int]:
        """Return the visits overlapping a tract, sorted."""
        return sorted(v for v, tracts in self.visit_tracts.items() if tract in tracts)

    def visits_for_tracts(self, tracts: Iterable[int]) -> list[int]:
        """Return the visits overlapping any of the tracts, sorted."""
        wanted = set(tracts)
        return sorted(v for v, ts in self.visit_tracts.items() if wanted.intersection(ts))

    def band_tracts(self) -> dict[str, list[int]]:
        """Return, per band, the tracts that have at least one visit in it."""
        result: dict[str, set[int]] = {}
        for visit, tracts in self.visit_tracts.items():
            result.setdefault(self.visit_band[visit], set()).update(tracts)
        return {band: sorted(ts) for band, ts in sorted(result.items())}

    def visit_centre(self, visit: int) -> tuple[float, float]:
        """Return (ra, dec) in degrees of the centre of the visit's region (places it in a sky pixel)."""
        centre = LonLat(self.visit_regions[visit].getBoundingCircle().getCenter())
        return centre.getLon().asDegrees(), centre.getLat().asDegrees()

    def inventory(self) -> list[InventoryRow]:
        """Return the inventory rows: one per (visit, overlapped tract)."""
        return [
            InventoryRow(visit, self.exposure_of(visit), self.visit_band[visit], tract)
            for visit in self.visits
            for tract in self.visit_tracts[visit]
        ]


def _make_skymap(tracts: Sequence[int], patches_per_side: int, name: str) -> MockSkyMap:
    geometries: dict[int, TractGeometry] = {}
    for index, tract in enumerate(tracts):
        center = FIRST_RA_DEG + index * TRACT_SPACING_DEG
        ra0, ra1 = center - TRACT_HALF_WIDTH_DEG, center + TRACT_HALF_WIDTH_DEG
        dec0, dec1 = -TRACT_HALF_WIDTH_DEG, TRACT_HALF_WIDTH_DEG
        step = 2 * TRACT_HALF_WIDTH_DEG / patches_per_side
        patches = {
            y * patches_per_side + x: _box(ra0 + x * step, ra0 + (x + 1) * step, dec0 + y * step, dec0 + (y + 1) * step)
            for y in range(patches_per_side)
            for x in range(patches_per_side)
        }
        geometries[tract] = TractGeometry(
            tract=tract,
            center_ra=center,
            region=_box(ra0, ra1, dec0, dec1),
            patches=patches,
            nx=patches_per_side,
            ny=patches_per_side,
        )
    return MockSkyMap(name=name, tracts=geometries)


def _strips(ra_min: float, ra_max: float, dec_half: float, count: int) -> list[ConvexPolygon]:
    width = (ra_max - ra_min) / count
    return [_box(ra_min + i * width, ra_min + (i + 1) * width, -dec_half, dec_half) for i in range(count)]


def make_survey(
    tracts: Sequence[int] = DEFAULT_TRACTS,
    *,
    visits_per_tract: int = 2,
    boundary_pairs: Sequence[tuple[int, int]] | None = None,
    n_detectors: int = 2,
    bands: Sequence[str] = DEFAULT_BANDS,
    patches_per_side: int = 2,
    first_visit: int = 1,
    seed: int = 1234,
    skymap_name: str = SKYMAP,
) -> Survey:
    """Build a deterministic synthetic survey.

    ``boundary_pairs`` are pairs of tracts that are neighbours in ``tracts``
    order; one boundary visit is made per pair.  By default the pairs are
    (tracts[1], tracts[2]) and (tracts[3], tracts[4]) when they exist, which
    for the default tracts straddle the SLAC/LANCS and LANCS/IN2P3 tracts of
    the "3x2" split.  Visit ids are consecutive from ``first_visit``: regular
    visits first (tract by tract), then boundary visits.

    Returns the `Survey`.  Raises `ValueError` for an unknown or non-adjacent
    boundary pair or fewer than 2 detectors with boundary visits.
    """
    tracts = list(tracts)
    if len(set(tracts)) != len(tracts):
        raise ValueError(f"Duplicate tract ids in {tracts}.")
    if boundary_pairs is None:
        boundary_pairs = [(tracts[i], tracts[i + 1]) for i in (1, 3) if i + 1 < len(tracts)]
    if boundary_pairs and n_detectors < 2:
        raise ValueError("Boundary visits need at least 2 detectors.")
    rng = random.Random(seed)
    skymap = _make_skymap(tracts, patches_per_side, skymap_name)
    detectors = tuple(range(n_detectors))
    visit_band: dict[int, str] = {}
    visit_regions: dict[int, ConvexPolygon] = {}
    detector_regions: dict[tuple[int, int], ConvexPolygon] = {}
    home: dict[int, int] = {}
    visit = first_visit

    for tract in tracts:
        center = skymap.tracts[tract].center_ra
        for n in range(visits_per_tract):
            jitter_ra = rng.uniform(-0.05, 0.05)
            dec_half = 0.4 + rng.uniform(-0.02, 0.02)
            ra0, ra1 = center + jitter_ra - 0.4, center + jitter_ra + 0.4
            for detector, region in zip(detectors, _strips(ra0, ra1, dec_half, n_detectors), strict=True):
                detector_regions[visit, detector] = region
            visit_regions[visit] = _box(ra0, ra1, -dec_half, dec_half)
            visit_band[visit] = bands[(tracts.index(tract) + n) % len(bands)]
            home[visit] = tract
            visit += 1

    boundary: list[int] = []
    for first, second in boundary_pairs:
        if first not in skymap.tracts or second not in skymap.tracts:
            raise ValueError(f"Boundary pair {(first, second)} has a tract not in {tracts}.")
        if abs(tracts.index(first) - tracts.index(second)) != 1:
            raise ValueError(f"Boundary pair {(first, second)} is not made of neighbouring tracts.")
        left, right = sorted((first, second), key=tracts.index)
        c_left, c_right = skymap.tracts[left].center_ra, skymap.tracts[right].center_ra
        half = n_detectors // 2
        dec_half = 0.3
        regions = _strips(c_left + 0.1, c_left + 0.45, dec_half, half) + _strips(
            c_right - 0.45, c_right - 0.1, dec_half, n_detectors - half
        )
        for detector, region in zip(detectors, regions, strict=True):
            detector_regions[visit, detector] = region
        visit_regions[visit] = _box(c_left + 0.1, c_right - 0.1, -dec_half, dec_half)
        visit_band[visit] = bands[rng.randrange(len(bands))]
        home[visit] = left
        boundary.append(visit)
        visit += 1

    visit_tracts: dict[int, list[int]] = {}
    visit_patches: dict[int, dict[int, list[int]]] = {}
    for v in visit_band:
        overlaps: dict[int, set[int]] = {}
        for detector in detectors:
            region = detector_regions[v, detector]
            for geometry in skymap.tracts.values():
                if region.overlaps(geometry.region):
                    patches = {p for p, pr in geometry.patches.items() if region.overlaps(pr)}
                    overlaps.setdefault(geometry.tract, set()).update(patches)
        ordered = sorted(overlaps, key=tracts.index)
        visit_tracts[v] = ordered
        visit_patches[v] = {t: sorted(overlaps[t]) for t in ordered}

    return Survey(
        instrument=INSTRUMENT,
        skymap=skymap,
        bands=tuple(bands),
        detectors=detectors,
        visits=tuple(visit_band),
        visit_band=visit_band,
        visit_regions=visit_regions,
        detector_regions=detector_regions,
        visit_tracts=visit_tracts,
        visit_patches=visit_patches,
        boundary_visits=tuple(boundary),
        seed=seed,
        home_tract=home,
    )


def write_inventory(survey: Survey, path: str | Path) -> Path:
    """Write the survey inventory as CSV (columns visit, exposure, band, tract).

    Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(INVENTORY_COLUMNS)
        for row in survey.inventory():
            writer.writerow([row.visit, row.exposure, row.band, row.tract])
    return path


def read_inventory(path: str | Path) -> list[InventoryRow]:
    """Read an inventory CSV written by `write_inventory`.

    Returns the rows.  Raises `ValueError` if the header is not the expected one.
    """
    with Path(path).open(newline="") as stream:
        reader = csv.DictReader(stream)
        if tuple(reader.fieldnames or ()) != INVENTORY_COLUMNS:
            raise ValueError(f"{path}: expected columns {INVENTORY_COLUMNS}, got {reader.fieldnames}.")
        return [InventoryRow(int(r["visit"]), int(r["exposure"]), r["band"], int(r["tract"])) for r in reader]
