"""Regional steps: a step sharded by ``healpixN`` runs one group per sky pixel that holds data.

Rules (see ``docs/campaign-spec.md``, "Regional steps"):

* A visit belongs to the ``healpixN`` pixel holding its centre; a pixel holds
  data when a planned visit belongs to it. Its tracts are the planned tracts
  its visits overlap.
* Each pixel's group runs at the site that already holds most of the
  group's inputs, counted as (dataset type, data ID) pairs: a visit-keyed
  input counts once per visit of the pixel at the visit's owner, a
  tract-keyed one once per tract at the tract's owner. Ties go to the hub.
* The group then receives from the other sites only the data IDs of its own
  pixel, and the sites whose later steps read its outputs receive them (the
  planner derives both movements like every other one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from .dataflow import DatasetTypeInfo
from .inventory import VisitInfo

__all__ = ["RegionError", "choose_pixel_site", "healpix_level_of", "pixel_of"]


class RegionError(Exception):
    """A regional step cannot be planned (e.g. visits without a sky position)."""


def healpix_level_of(dimension: str) -> int | None:
    """Return N for ``healpixN``, else None."""
    if dimension.startswith("healpix") and dimension[len("healpix") :].isdigit():
        return int(dimension[len("healpix") :])
    return None


def pixel_of(visit: VisitInfo, level: int) -> int:
    """Return the ``healpix{level}`` pixel (nested numbering, as the Butler's) holding the visit's centre.

    Raises:
        RegionError: the inventory gives no centre for the visit.
    """
    from lsst.sphgeom import HealpixPixelization, LonLat, UnitVector3d

    if visit.ra is None or visit.dec is None:
        raise RegionError(
            f"visit {visit.visit} has no sky position (ra, dec): regional (healpix) steps need one for every visit"
        )
    return int(HealpixPixelization(level).index(UnitVector3d(LonLat.fromDegrees(visit.ra, visit.dec))))


def choose_pixel_site(
    inputs: Iterable[DatasetTypeInfo],
    visits: Iterable[int],
    tracts: Iterable[int],
    visit_owner: Mapping[int, str],
    tract_owner: Mapping[int, str],
    sites: Sequence[str],
    hub: str,
) -> str:
    """Return the site that holds most of a pixel group's inputs (ties: the hub).

    ``inputs`` are the step's inputs produced by earlier steps; overall inputs
    (calibs, refcats...) are at every site by then and do not count.
    """
    visits, tracts = sorted(visits), sorted(tracts)
    held: Counter[str] = Counter()
    for info in inputs:
        key = info.key_dimension()
        if key in ("visit", "exposure"):
            held.update(visit_owner[visit] for visit in visits)
        elif key == "tract":
            held.update(tract_owner[tract] for tract in tracts)
    if not held:
        return hub
    most = max(held.values())
    leaders = [site for site in sites if held[site] == most]
    return leaders[0] if len(leaders) == 1 else hub
