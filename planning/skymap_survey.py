"""A synthetic data-release inventory over Rubin's real LSST sky map, for planning at scale.

The sky map comes from the PyPI package ``skymap-convert``, which ships
Rubin's ``lsst_skymap`` (a rings sky map: 18,938 tracts whose ids run along
rings of declination) as ``converted_skymaps/lsst_skymap/tracts.npy``: for
every tract the four corners (ra, dec) of its inner box in degrees.

:func:`make_survey` throws ``visits`` pointings of a circular field (3.5°
across, like LSSTCam's) uniformly over a footprint (dec −70° … +10°, the
first ``fraction`` of the RA circle), gives each a band and an exposure, and
lists the tracts whose inner box the field touches. At full scale (230,000
visits) that is ~2.6 million visit-tract overlaps over ~10,900 tracts, the
size of a data release. Everything is numpy arrays; the result is an
:class:`~planning.inventory.InventoryArrays` with tract centres,
or a CSV for ``TableInventory`` (:func:`write_csv`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .inventory import InventoryArrays

__all__ = ["FULL_VISITS", "SkyMap", "load_lsst_skymap", "make_survey", "write_csv"]

#: Visits of a data release at full scale (issue "data-release scale").
FULL_VISITS = 230_000
BANDS = ("u", "g", "r", "i", "z", "y")


@dataclasses.dataclass(frozen=True)
class SkyMap:
    """Tract boxes: ids and ra/dec bounds in degrees, all ``(t,)`` arrays, in id order."""

    tract: np.ndarray
    ra_min: np.ndarray
    ra_max: np.ndarray
    dec_min: np.ndarray
    dec_max: np.ndarray

    @property
    def center_ra(self) -> np.ndarray:
        """Return the RA of each box's centre (degrees, in [0, 360))."""
        width = (self.ra_max - self.ra_min) % 360.0
        return (self.ra_min + width / 2) % 360.0

    @property
    def center_dec(self) -> np.ndarray:
        """Return the Dec of each box's centre (degrees)."""
        return (self.dec_min + self.dec_max) / 2


def load_lsst_skymap() -> SkyMap:
    """Return Rubin's ``lsst_skymap`` from the ``skymap-convert`` package.

    Raises:
        ModuleNotFoundError: ``skymap-convert`` is not installed.
    """
    import skymap_convert

    path = Path(skymap_convert.__file__).parent / "converted_skymaps" / "lsst_skymap" / "tracts.npy"
    corners = np.load(path)  # (t, 4, 2): ra, dec of the inner box's corners
    ra, dec = corners[:, :, 0], corners[:, :, 1]
    ra_min, ra_max = ra.min(axis=1), ra.max(axis=1)
    wraps = (ra_max - ra_min) > 180.0  # a box across RA 0: its corners read e.g. 359.3 and 0.7
    shifted = np.where(ra > 180.0, ra - 360.0, ra)
    ra_min = np.where(wraps, shifted.min(axis=1) % 360.0, ra_min)
    ra_max = np.where(wraps, shifted.max(axis=1) % 360.0, ra_max)
    return SkyMap(np.arange(corners.shape[0], dtype=np.int64), ra_min, ra_max, dec.min(axis=1), dec.max(axis=1))


def make_survey(
    skymap: SkyMap,
    fraction: float = 1.0,
    *,
    visits: int = FULL_VISITS,
    field_diameter: float = 3.5,
    dec_range: tuple[float, float] = (-70.0, 10.0),
    seed: int = 2026,
) -> InventoryArrays:
    """Return an inventory of ``round(visits * fraction)`` visits over a ``fraction`` of the footprint.

    The footprint is ``dec_range`` over RA [0, 360 × fraction): the visit
    density is the same at every scale. Visit ids are 1…n, exposure ids
    ``visit * 10``. Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    n = max(1, round(visits * fraction))
    ra_span = 360.0 * fraction
    sin_lo, sin_hi = np.sin(np.radians(dec_range[0])), np.sin(np.radians(dec_range[1]))
    visit_ra = rng.uniform(0.0, ra_span, n)
    visit_dec = np.degrees(np.arcsin(rng.uniform(sin_lo, sin_hi, n)))
    band = rng.integers(0, len(BANDS), n).astype(np.int32)
    centre_ra, centre_dec = skymap.center_ra, skymap.center_dec
    in_footprint = (
        (centre_dec >= dec_range[0]) & (centre_dec <= dec_range[1]) & (centre_ra >= 0.0) & (centre_ra < ra_span)
    )
    visit_index, tract_index = _overlaps(skymap, in_footprint, visit_ra, visit_dec, field_diameter / 2)
    visit_ids = np.arange(1, n + 1, dtype=np.int64)
    rows_visit = np.concatenate([visit_ids, visit_ids[visit_index]])
    rows_tract = np.concatenate([np.full(n, -1, dtype=np.int64), skymap.tract[tract_index]])
    arrays = InventoryArrays.from_rows(
        rows_visit,
        rows_visit * 10,
        np.concatenate([band, band[visit_index]]),
        BANDS,
        rows_tract,
        where="synthetic survey",
    )
    # the placeholder rows (-1) of visits that do overlap tracts are dropped by from_rows
    used = np.unique(arrays.tract_ids)
    return arrays.with_centers(used, centre_ra[used], centre_dec[used])


def _overlaps(
    skymap: SkyMap, candidates: np.ndarray, visit_ra: np.ndarray, visit_dec: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return (visit index, tract index) of every field circle that touches a candidate tract's box.

    Works ring by ring: the tracts of a ring share their Dec bounds and split
    the RA circle evenly, so a field can only touch the few tracts around the
    one under its centre. The work is linear in visits x rings a field reaches.
    """
    visit_parts: list[np.ndarray] = []
    tract_parts: list[np.ndarray] = []
    ring_of = np.round(skymap.dec_min, 6)  # the corners of one ring differ in the last bits
    for ring_dec_min in np.unique(ring_of):
        ring = np.flatnonzero(ring_of == ring_dec_min)
        dec_lo, dec_hi = skymap.dec_min[ring].min(), skymap.dec_max[ring].max()
        near = np.flatnonzero((visit_dec + radius >= dec_lo) & (visit_dec - radius <= dec_hi))
        if near.size == 0 or not candidates[ring].any():
            continue
        ring = ring[np.argsort(skymap.ra_min[ring] % 360.0, kind="stable")]
        size = ring.size
        width = 360.0 / size
        start_ra = skymap.ra_min[ring[0]] % 360.0
        worst = np.radians(min(89.9, max(abs(dec_lo), abs(dec_hi)) + radius))
        reach = min(size // 2, int(np.ceil(radius / np.cos(worst) / width)) + 1)
        under = np.floor(((visit_ra[near] - start_ra) % 360.0) / width).astype(np.int64)
        for shift in range(-reach, reach + 1):
            if size <= 2 * reach and shift > size - reach - 1:
                break  # a small ring: every tract was already tried
            index = ring[(under + shift) % size]
            hit = candidates[index] & _touches(
                visit_ra[near], visit_dec[near], radius, skymap.ra_min[index], skymap.ra_max[index], dec_lo, dec_hi
            )
            visit_parts.append(near[hit])
            tract_parts.append(index[hit])
    if not visit_parts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(visit_parts), np.concatenate(tract_parts)


def _touches(
    ra: np.ndarray,
    dec: np.ndarray,
    radius: float,
    ra_lo: np.ndarray,
    ra_hi: np.ndarray,
    dec_lo: float,
    dec_hi: float,
) -> np.ndarray:
    """Return whether a circle (degrees) touches a box [ra_lo, ra_hi] x [dec_lo, dec_hi] (broadcast)."""
    width = (ra_hi - ra_lo) % 360.0
    offset = (ra - ra_lo) % 360.0  # from the box's low edge, eastwards
    outside = offset > width
    delta_ra = np.where(outside, np.minimum(offset - width, 360.0 - offset), 0.0)
    closest_dec = np.clip(dec, dec_lo, dec_hi)
    d1, d2, dra = np.radians(dec), np.radians(closest_dec), np.radians(delta_ra)
    hav = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin(dra / 2) ** 2
    return hav <= np.sin(np.radians(radius) / 2) ** 2


def write_csv(arrays: InventoryArrays, path: str | Path) -> Path:
    """Write ``arrays`` as a ``TableInventory`` CSV with tract centres; return the path."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    counts = np.diff(arrays.tract_offsets)
    has_tracts = counts > 0
    rows = np.repeat(np.arange(len(arrays)), np.where(has_tracts, counts, 1))
    tract = np.full(rows.shape[0], -1, dtype=np.int64)
    filled = np.repeat(has_tracts, np.where(has_tracts, counts, 1))
    tract[filled] = arrays.tract_ids
    position = np.searchsorted(arrays.center_tracts, np.maximum(tract, 0))
    position = np.minimum(position, max(arrays.center_tracts.size - 1, 0))
    known = filled & (arrays.center_tracts.size > 0)
    known &= arrays.center_tracts[position] == tract if arrays.center_tracts.size else known
    table = pa.table(
        {
            "visit": arrays.visit[rows],
            "exposure": arrays.exposure[rows],
            "band": pa.DictionaryArray.from_arrays(arrays.band[rows], list(arrays.bands)).cast(pa.string()),
            "tract": pa.array(tract, mask=~filled),
            "tract_ra": pa.array(arrays.center_ra[position] if arrays.center_tracts.size else tract * 0.0, mask=~known),
            "tract_dec": pa.array(
                arrays.center_dec[position] if arrays.center_tracts.size else tract * 0.0, mask=~known
            ),
        }
    )
    path = Path(path)
    pacsv.write_csv(table, path)
    return path
