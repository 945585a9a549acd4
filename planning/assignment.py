"""Which site owns which tract, when the spec gives shares instead of a ``tract_map``.

Two rules, both deterministic and O(t log t) in the number of tracts ``t``:

* ``id_blocks``: contiguous blocks of the sorted tract ids, in site order. On
  a rings sky map (Rubin's ``lsst_skymap``), consecutive ids run along thin
  rings of declination, so a block is a long thin strip whose boundary is
  crossed by many visits: every visit that overlaps tracts of two sites makes
  visit-level products move between them.
* ``compact`` (the default when the inventory knows the tracts' centres):
  recursive coordinate bisection of the tract centres as unit vectors. The
  sites are split into two groups whose shares are as even as possible, the
  tracts are cut across their principal axis in proportion to the groups'
  tract counts, and each half is split again. Every site gets one compact
  region of the sky, and the boundary that visits can straddle is short
  (`bench/plan_scale.py` prints the exchange volume of both rules).

Tract counts per site follow the shares by largest-remainder apportionment
(ties to the site listed first) in both rules, so both honour the shares
exactly the same way.

Which site processes a visit (its visit-level steps) follows from the tracts'
owners by one of :data:`VISIT_ASSIGNMENTS` (:func:`visit_owner`). A visit whose
planned tracts belong to several sites is a boundary visit: every other of
those sites receives its visit-level products, whichever owns it, so the rule
decides who receives, not how much moves in all. ``most_tracts`` (the default)
gives it to the site owning most of the tracts it overlaps, the site holding
most of its footprint: each side of a boundary owns the visits lying mostly on
its side, and the visits a site owns follow its share of the sky.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "ASSIGNMENTS",
    "VISIT_ASSIGNMENTS",
    "apportion_counts",
    "assign_tracts",
    "compact_tracts",
    "id_block_tracts",
    "visit_owner",
]

#: The assignment rules a spec may name (``tract_assignment``).
ASSIGNMENTS = ("compact", "id_blocks")

#: The visit ownership rules a spec may name (``visit_assignment``), the default first.
VISIT_ASSIGNMENTS = ("most_tracts", "lowest_tract", "hub_first")


def assign_tracts(
    tracts: np.ndarray,
    shares: Sequence[tuple[str, float]],
    rule: str = "compact",
    centers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> dict[int, str]:
    """Return tract -> site for the tracts ``tracts`` (int ``(t,)``) by ``rule``.

    ``centers`` is (tract ids, ra, dec in degrees) as an inventory knows them.
    ``compact`` needs the centre of every tract; without it (a table
    inventory without ``tract_ra``/``tract_dec``) the id blocks are used.
    """
    tracts = np.unique(np.asarray(tracts, dtype=np.int64))
    if rule == "compact" and centers is not None and tracts.size:
        known, ra, dec = (np.asarray(column) for column in centers)
        position = np.searchsorted(known, tracts)
        position[position >= known.size] = 0
        if known.size and np.array_equal(known[position], tracts):
            return compact_tracts(tracts, ra[position], dec[position], shares)
    return id_block_tracts(tracts.tolist(), shares)


def apportion_counts(total: int, shares: Sequence[tuple[str, float]]) -> dict[str, int]:
    """Return site -> number of tracts, summing to ``total``, by largest remainder.

    Raises:
        ValueError: the shares do not add up to a positive number.
    """
    total_share = sum(share for _, share in shares)
    if total_share <= 0:
        raise ValueError("the shares add up to 0")
    quotas = [(code, total * share / total_share) for code, share in shares]
    sizes = {code: int(quota) for code, quota in quotas}
    leftover = total - sum(sizes.values())
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i][1] - int(quotas[i][1])), i))
    for index in by_remainder[:leftover]:
        sizes[quotas[index][0]] += 1
    return sizes


def id_block_tracts(tracts: Iterable[int], shares: Sequence[tuple[str, float]]) -> dict[int, str]:
    """Return tract -> site, each site a contiguous block of the sorted tract ids (site order)."""
    ordered = sorted(set(tracts))
    if not ordered or sum(share for _, share in shares) <= 0:
        return {}
    sizes = apportion_counts(len(ordered), shares)
    owners: dict[int, str] = {}
    position = 0
    for code, _ in shares:
        for tract in ordered[position : position + sizes[code]]:
            owners[tract] = code
        position += sizes[code]
    return owners


def compact_tracts(
    tracts: np.ndarray, ra: np.ndarray, dec: np.ndarray, shares: Sequence[tuple[str, float]]
) -> dict[int, str]:
    """Return tract -> site, each site one compact region of the sky.

    Args:
        tracts: int ``(t,)`` tract ids (unique).
        ra, dec: float ``(t,)`` the tracts' centres in degrees.
        shares: (site, share) in site order.

    Returns:
        Every tract mapped to a site; the number of tracts per site is
        :func:`apportion_counts` of the shares. Empty when there are no
        tracts or all shares are 0.
    """
    tracts = np.asarray(tracts, dtype=np.int64)
    if tracts.size == 0 or sum(share for _, share in shares) <= 0:
        return {}
    canonical = np.argsort(tracts, kind="stable")  # the same tracts in any order give the same regions
    tracts = tracts[canonical]
    ra = np.asarray(ra, dtype=np.float64)[canonical]
    dec = np.asarray(dec, dtype=np.float64)[canonical]
    ra_rad, dec_rad = np.radians(ra), np.radians(dec)
    points = np.column_stack((np.cos(dec_rad) * np.cos(ra_rad), np.cos(dec_rad) * np.sin(ra_rad), np.sin(dec_rad)))
    sizes = apportion_counts(int(tracts.size), shares)
    sites = [code for code, _ in shares if sizes[code] > 0]
    owner = np.empty(tracts.size, dtype=np.int64)
    _bisect(np.arange(tracts.size), points, tracts, sites, sizes, owner, {code: i for i, code in enumerate(sites)})
    return {int(tract): sites[index] for tract, index in zip(tracts.tolist(), owner.tolist(), strict=True)}


def _bisect(
    members: np.ndarray,
    points: np.ndarray,
    tracts: np.ndarray,
    sites: list[str],
    sizes: dict[str, int],
    owner: np.ndarray,
    index_of: dict[str, int],
) -> None:
    if len(sites) == 1:
        owner[members] = index_of[sites[0]]
        return
    counts = [sizes[code] for code in sites]
    half = sum(counts) / 2
    prefix = np.cumsum(counts)[:-1]
    cut = int(np.argmin(np.abs(prefix - half))) + 1
    left_count = int(prefix[cut - 1])
    subset = points[members]
    centred = subset - subset.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    axis = vectors[:, -1]
    if axis[np.argmax(np.abs(axis))] < 0:
        axis = -axis  # a fixed orientation: the same input always gives the same regions
    projection = centred @ axis
    order = np.lexsort((tracts[members], projection))
    _bisect(members[order[:left_count]], points, tracts, sites[:cut], sizes, owner, index_of)
    _bisect(members[order[left_count:]], points, tracts, sites[cut:], sizes, owner, index_of)


def visit_owner(tracts: Sequence[int], tract_owner: Mapping[int, str], rule: str = "most_tracts",
                hub: str | None = None) -> tuple[str, int]:
    """Return (the site that processes a visit, its anchor tract) by ``rule``.

    Args:
        tracts: the planned tracts the visit overlaps, sorted, at least one.
        tract_owner: tract -> site, holding every tract of ``tracts``.
        rule: one of :data:`VISIT_ASSIGNMENTS`:

            * ``most_tracts``: the site owning the most of ``tracts``; a tie
              goes to the tied site owning the lowest tract id of ``tracts``.
            * ``lowest_tract``: the owner of ``tracts[0]``.
            * ``hub_first``: ``hub`` when it owns one of ``tracts``, else as
              ``most_tracts``.
        hub: the campaign's hub (``hub_first`` only).

    The anchor tract is the lowest of ``tracts`` the returned site owns (a
    visit-level step split by tract groups a site's visits by it). O(len(tracts)).

    Raises:
        ValueError: an unknown ``rule``; IndexError: ``tracts`` is empty.
    """
    first = tract_owner[tracts[0]]
    if rule == "lowest_tract":
        return first, tracts[0]
    if rule not in VISIT_ASSIGNMENTS:
        raise ValueError(f"unknown visit assignment {rule!r}: one of {', '.join(VISIT_ASSIGNMENTS)}")
    for tract in tracts:
        if tract_owner[tract] != first:
            break
    else:
        return first, tracts[0]  # most visits: every tract at one site
    anchors: dict[str, int] = {}  # site -> its lowest tract, in the order of those tracts
    counts: dict[str, int] = {}
    for tract in tracts:
        site = tract_owner[tract]
        if site in counts:
            counts[site] += 1
        else:
            counts[site] = 1
            anchors[site] = tract
    if rule == "hub_first" and hub in counts:
        return hub, anchors[hub]  # type: ignore[index]
    best = max(counts, key=counts.__getitem__)  # the first of the tied: the one with the lowest tract
    return best, anchors[best]
