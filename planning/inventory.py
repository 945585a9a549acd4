"""Data inventory: which visits exist, their exposures and bands, and the tracts they overlap.

:class:`TableInventory` reads a CSV file (offline planning, benchmarks, tests);
:class:`ButlerInventory` reads a Butler repository's dimension records.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "ButlerInventory",
    "DataInventory",
    "InventoryArrays",
    "InventoryError",
    "TableInventory",
    "VisitInfo",
    "inventory_arrays",
]


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


@dataclasses.dataclass(frozen=True, eq=False)
class InventoryArrays:
    """The inventory as columns: one entry per visit, sorted by visit id.

    Shapes (``n`` visits, ``m`` visit-tract overlaps, ``t`` tracts with a
    known centre):

    * ``visit``, ``exposure``: int64 ``(n,)``; ``band``: int32 ``(n,)`` codes
      into ``bands`` (a tuple of band names).
    * ``tract_offsets``: int64 ``(n + 1,)`` and ``tract_ids``: int64 ``(m,)``,
      compressed sparse rows: visit ``i`` overlaps the sorted tracts
      ``tract_ids[tract_offsets[i]:tract_offsets[i + 1]]``.
    * ``center_tracts``: int64 ``(t,)``, ``center_ra``/``center_dec``: float64
      ``(t,)`` degrees: tract centres on the sky, when the source knows them
      (empty otherwise); the planner's compact tract assignment uses them.
    * ``visit_ra``/``visit_dec``: float64 ``(n,)`` degrees, the visits' centres
      (NaN where unknown; None when no visit has one), for regional steps.

    About 40 bytes per visit and 8 per overlap: a data release (230,000
    visits, 2.6 million overlaps) takes ~30 MB, where per-row Python
    objects took over a gigabyte.
    """

    visit: np.ndarray
    exposure: np.ndarray
    band: np.ndarray
    bands: tuple[str, ...]
    tract_offsets: np.ndarray
    tract_ids: np.ndarray
    visit_ra: np.ndarray | None = None
    visit_dec: np.ndarray | None = None
    center_tracts: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0, dtype=np.int64))
    center_ra: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0, dtype=np.float64))
    center_dec: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0, dtype=np.float64))

    def __len__(self) -> int:
        return int(self.visit.shape[0])

    def tracts(self) -> np.ndarray:
        """Return every tract overlapped by at least one visit, sorted (int64 ``(k,)``)."""
        return np.unique(self.tract_ids)

    def visit_infos(self) -> list[VisitInfo]:
        """Return the visits as :class:`VisitInfo` objects (for small inventories and tests)."""
        offsets = self.tract_offsets.tolist()
        tract_ids = self.tract_ids.tolist()
        bands = self.bands
        n = len(self)
        ras = self.visit_ra.tolist() if self.visit_ra is not None else [math.nan] * n
        decs = self.visit_dec.tolist() if self.visit_dec is not None else [math.nan] * n
        return [
            VisitInfo(
                visit, exposure, bands[band], tuple(tract_ids[offsets[i] : offsets[i + 1]]),
                None if math.isnan(ra) or math.isnan(dec) else ra, None if math.isnan(ra) or math.isnan(dec) else dec,
            )
            for i, (visit, exposure, band, ra, dec) in enumerate(
                zip(self.visit.tolist(), self.exposure.tolist(), self.band.tolist(), ras, decs, strict=True)
            )
        ]

    @classmethod
    def from_rows(
        cls,
        visit: np.ndarray,
        exposure: np.ndarray,
        band: np.ndarray,
        bands: Sequence[str],
        tract: np.ndarray,
        *,
        ra: np.ndarray | None = None,
        dec: np.ndarray | None = None,
        where: str = "inventory",
    ) -> InventoryArrays:
        """Return the columns of one-row-per-visit-x-tract input, in O(rows log rows).

        ``tract`` holds -1 where a visit overlaps no tract; ``ra``/``dec``
        (degrees, NaN where unknown) the visit's centre. Repeated rows are
        merged.

        Raises:
            InventoryError: a visit has two exposures or two bands (the
                message names the visit and ``where``).
        """
        visit = np.asarray(visit, dtype=np.int64)
        exposure = np.asarray(exposure, dtype=np.int64)
        band = np.asarray(band, dtype=np.int32)
        tract = np.asarray(tract, dtype=np.int64)
        order = np.lexsort((tract, visit))
        visit, exposure, band, tract = visit[order], exposure[order], band[order], tract[order]
        if ra is not None and dec is not None:
            ra, dec = np.asarray(ra, dtype=np.float64)[order], np.asarray(dec, dtype=np.float64)[order]
        first = np.ones(visit.shape[0], dtype=bool)
        first[1:] = visit[1:] != visit[:-1]
        starts = np.flatnonzero(first)
        row_visit = np.cumsum(first) - 1
        clash = (exposure != exposure[starts][row_visit]) | (band != band[starts][row_visit])
        if clash.any():
            raise InventoryError(f"{where}: visit {int(visit[np.argmax(clash)])} has two exposures or bands")
        keep = tract >= 0
        keep[1:] &= (tract[1:] != tract[:-1]) | first[1:]
        counts = np.bincount(row_visit[keep], minlength=starts.shape[0])
        offsets = np.zeros(starts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return cls(
            visit=visit[starts],
            exposure=exposure[starts],
            band=band[starts],
            bands=tuple(bands),
            tract_offsets=offsets,
            tract_ids=tract[keep],
            visit_ra=_first_known(ra, starts, row_visit) if ra is not None else None,
            visit_dec=_first_known(dec, starts, row_visit) if dec is not None else None,
        )

    @classmethod
    def from_visit_infos(cls, visits: Iterable[VisitInfo]) -> InventoryArrays:
        """Return the columns of ``visits`` (duplicates merged, tracts sorted)."""
        band_codes: dict[str, int] = {}
        rows_visit: list[int] = []
        rows_exposure: list[int] = []
        rows_band: list[int] = []
        rows_tract: list[int] = []
        rows_ra: list[float] = []
        rows_dec: list[float] = []
        for info in visits:
            code = band_codes.setdefault(info.band, len(band_codes))
            known = info.ra is not None and info.dec is not None
            for tract in info.tracts or (-1,):
                rows_visit.append(info.visit)
                rows_exposure.append(info.exposure)
                rows_band.append(code)
                rows_tract.append(tract)
                rows_ra.append(info.ra if known else math.nan)
                rows_dec.append(info.dec if known else math.nan)
        return cls.from_rows(
            np.array(rows_visit, dtype=np.int64),
            np.array(rows_exposure, dtype=np.int64),
            np.array(rows_band, dtype=np.int32),
            list(band_codes),
            np.array(rows_tract, dtype=np.int64),
            ra=np.array(rows_ra, dtype=np.float64) if not all(map(math.isnan, rows_ra)) else None,
            dec=np.array(rows_dec, dtype=np.float64) if not all(map(math.isnan, rows_dec)) else None,
        )

    def with_centers(self, tracts: np.ndarray, ra: np.ndarray, dec: np.ndarray) -> InventoryArrays:
        """Return a copy that knows the sky centres (degrees) of ``tracts``."""
        tracts = np.asarray(tracts, dtype=np.int64)
        order = np.argsort(tracts, kind="stable")
        return dataclasses.replace(
            self,
            center_tracts=tracts[order],
            center_ra=np.asarray(ra, dtype=np.float64)[order],
            center_dec=np.asarray(dec, dtype=np.float64)[order],
        )


def _first_known(values: np.ndarray, starts: np.ndarray, row_visit: np.ndarray) -> np.ndarray:
    """Return per visit the first non-NaN of ``values`` over its rows (NaN when none)."""
    out = np.full(starts.shape[0], np.nan)
    known = ~np.isnan(values)
    # the last write wins: write in reverse row order so the first known row of a visit is kept
    rows = np.flatnonzero(known)[::-1]
    out[row_visit[rows]] = values[rows]
    return out


@runtime_checkable
class DataInventory(Protocol):
    """What the planner asks about the data."""

    def visits(self) -> list[VisitInfo]:
        """Return every visit, sorted by visit id."""
        ...

    def tracts(self) -> list[int]:
        """Return every tract overlapped by at least one visit, sorted."""
        ...


def inventory_arrays(inventory: DataInventory) -> InventoryArrays:
    """Return ``inventory`` as columns: its own when it keeps them, else built from :meth:`visits`."""
    arrays = getattr(inventory, "arrays", None)
    if callable(arrays):
        return arrays()
    return InventoryArrays.from_visit_infos(inventory.visits())


class _StaticInventory:
    """An inventory held in memory as :class:`InventoryArrays` (base of the concrete ones)."""

    def __init__(self, visits: Iterable[VisitInfo] | InventoryArrays) -> None:
        self._arrays = visits if isinstance(visits, InventoryArrays) else InventoryArrays.from_visit_infos(visits)

    def arrays(self) -> InventoryArrays:
        """Return the inventory's columns (shared, do not modify)."""
        return self._arrays

    def visits(self) -> list[VisitInfo]:
        """Return every visit, sorted by visit id."""
        return self._arrays.visit_infos()

    def tracts(self) -> list[int]:
        """Return every tract overlapped by at least one visit, sorted."""
        return self._arrays.tracts().tolist()


class TableInventory(_StaticInventory):
    """An inventory read from a CSV file with columns ``visit, exposure, band, tract``.

    One row per visit x overlapped tract. A visit without tracts may have an
    empty ``tract`` cell. Optional columns ``tract_ra, tract_dec`` (degrees)
    give the tract's centre on the sky; the planner then assigns tracts to
    sites in compact sky regions. Read with pyarrow's CSV reader (a
    dependency of lsst-daf-butler) straight into columns: 2.6 million rows
    in about a second and ~100 MB, never one Python object per row.
    Optional columns ``ra, dec`` (degrees) give the visit's centre (needed
    to plan regional steps).

    Raises:
        InventoryError: the file is missing, lacks a column, or a value is
            not an integer / a visit has two bands or exposures.
    """

    COLUMNS = ("visit", "exposure", "band", "tract")
    CENTER_COLUMNS = ("tract_ra", "tract_dec")
    VISIT_CENTER_COLUMNS = ("ra", "dec")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        super().__init__(self._read())

    def _read(self) -> InventoryArrays:
        import pyarrow as pa
        import pyarrow.compute as pacompute
        import pyarrow.csv as pacsv

        types = {"visit": pa.int64(), "exposure": pa.int64(), "band": pa.string(), "tract": pa.int64()}
        types.update({column: pa.float64() for column in (*self.CENTER_COLUMNS, *self.VISIT_CENTER_COLUMNS)})
        try:
            table = pacsv.read_csv(
                self.path,
                parse_options=pacsv.ParseOptions(newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(
                    column_types=types, strings_can_be_null=False, null_values=[""], quoted_strings_can_be_null=False
                ),
            )
        except OSError as err:
            raise InventoryError(f"cannot read inventory {self.path}: {err}") from err
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise InventoryError(self._locate(types) or f"{self.path}: {_arrow_message(err)}") from err
        missing = [column for column in self.COLUMNS if column not in table.column_names]
        if missing:
            raise InventoryError(f"{self.path}: missing column(s) {', '.join(missing)}")
        for column in ("visit", "exposure"):
            if table[column].null_count:
                raise InventoryError(f"{self.path}: column {column} has an empty cell")
        bands = table["band"].combine_chunks()
        bands = pacompute.utf8_trim_whitespace(bands).dictionary_encode()
        arrays = InventoryArrays.from_rows(
            table["visit"].to_numpy(),
            table["exposure"].to_numpy(),
            bands.indices.to_numpy(zero_copy_only=False),
            bands.dictionary.to_pylist(),
            table["tract"].fill_null(-1).to_numpy(),
            ra=self._column(table, "ra"),
            dec=self._column(table, "dec"),
            where=str(self.path),
        )
        if all(column in table.column_names for column in self.CENTER_COLUMNS):
            arrays = self._with_centers(table, arrays)
        return arrays

    def _locate(self, types: dict[str, Any]) -> str | None:
        """Return ``path:line: column: invalid value`` for the first cell that does not convert (or None).

        Only on the error path: the file is read again as text to name the line, which pyarrow does not.
        """
        import pyarrow as pa
        import pyarrow.csv as pacsv

        try:
            table = pacsv.read_csv(self.path, convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in types}, strings_can_be_null=False))
        except (OSError, pa.ArrowInvalid):
            return None
        for name, kind in types.items():
            if name not in table.column_names or kind == pa.string():
                continue
            convert = int if pa.types.is_integer(kind) else float
            for index, value in enumerate(table[name].to_pylist()):
                if value is None or not value.strip():
                    continue
                try:
                    convert(value)
                except ValueError:
                    return f"{self.path}:{index + 2}: column {name}: invalid value {value!r}"
        return None

    @staticmethod
    def _column(table: Any, name: str) -> np.ndarray | None:
        return table[name].fill_null(np.nan).to_numpy() if name in table.column_names else None

    def _with_centers(self, table: Any, arrays: InventoryArrays) -> InventoryArrays:
        tract = table["tract"].fill_null(-1).to_numpy()
        ra = table["tract_ra"].fill_null(np.nan).to_numpy()
        dec = table["tract_dec"].fill_null(np.nan).to_numpy()
        known = (tract >= 0) & np.isfinite(ra) & np.isfinite(dec)
        tracts, first = np.unique(tract[known], return_index=True)
        return arrays.with_centers(tracts, ra[known][first], dec[known][first])


def _arrow_message(err: Exception) -> str:
    # pyarrow says "In CSV column #2: Row #5: CSV conversion error to int64: invalid value 'x'"
    return str(err).splitlines()[0]


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

    def _query(self) -> InventoryArrays:
        from lsst.daf.butler import Butler

        try:
            butler = Butler.from_config(self.repo_root, collections=self.collections)
        except Exception as err:  # the Butler raises many kinds; all mean "cannot open"
            raise InventoryError(f"cannot open butler repo {self.repo_root}: {err}") from err
        try:
            with butler:
                # bind names must differ from dimension names: "instrument = instrument" compares the column to itself
                bind = {"instrument_name": self.instrument, "skymap_name": self.skymap}
                band_of_filter = {
                    record.name: record.band
                    for record in butler.query_dimension_records(
                        "physical_filter", where="instrument = instrument_name", bind=bind, explain=False
                    )
                }
                band_of: dict[int, str] = {}
                centre_of: dict[int, tuple[float, float]] = {}
                for record in butler.query_dimension_records(
                    "visit", where="instrument = instrument_name", bind=bind, explain=False
                ):
                    band_of[record.id] = band_of_filter.get(record.physical_filter, "")
                    if record.region is not None:
                        centre_of[record.id] = _centre(record.region)
                exposure_of: dict[int, int] = {}
                for record in butler.query_dimension_records(
                    "visit_definition", where="instrument = instrument_name", bind=bind, explain=False
                ):
                    current = exposure_of.get(record.visit)
                    exposure_of[record.visit] = record.exposure if current is None else min(current, record.exposure)
                tracts_of: dict[int, set[int]] = {visit: set() for visit in band_of}
                for data_id in butler.query_data_ids(
                    ["visit", "tract"],
                    where="instrument = instrument_name AND skymap = skymap_name",
                    bind=bind,
                    explain=False,
                ):
                    tracts_of.setdefault(int(data_id["visit"]), set()).add(int(data_id["tract"]))
                centers = _tract_centers(
                    butler.query_dimension_records("tract", where="skymap = skymap_name", bind=bind, explain=False)
                )
        except Exception as err:
            raise InventoryError(f"cannot query butler repo {self.repo_root}: {err}") from err
        arrays = InventoryArrays.from_visit_infos(
            VisitInfo(
                visit, exposure_of.get(visit, visit), band_of.get(visit, ""), tuple(sorted(tracts)),
                *centre_of.get(visit, (None, None)),
            )
            for visit, tracts in tracts_of.items()
        )
        return arrays.with_centers(*centers)


def _centre(region: object) -> tuple[float, float]:
    """Return (ra, dec) in degrees of the centre of a sphgeom region's bounding circle."""
    from lsst.sphgeom import LonLat

    centre = LonLat(region.getBoundingCircle().getCenter())  # type: ignore[attr-defined]
    return centre.getLon().asDegrees(), centre.getLat().asDegrees()


def _tract_centers(records: Iterable[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (tract ids, ra, dec in degrees) of the centres of the tract records that have a region."""
    tracts: list[int] = []
    ra: list[float] = []
    dec: list[float] = []
    for record in records:
        if record.region is None:
            continue
        tract_ra, tract_dec = _centre(record.region)
        tracts.append(int(record.id))
        ra.append(tract_ra)
        dec.append(tract_dec)
    return np.array(tracts, dtype=np.int64), np.array(ra), np.array(dec)
