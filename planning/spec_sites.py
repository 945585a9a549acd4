"""The spec's sites: who takes part, with which share of the tracts, or which tracts (``tract_map``).

Part of the spec's validation (:mod:`planning.spec`): errors go to the collector it passes in, each at its
field path (``sites[2].share``, ``tract_map.9948``), and a mistake is reported once (the hub check there asks
`sites_listed`, which counts a listed site whatever became of its share).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from .limits import DATA_ID_MAX
from .spec_types import SHARE_TOLERANCE, SiteSpec, type_name

if TYPE_CHECKING:
    from .spec import _Collector

__all__ = ["parse_sites", "sites_listed"]


def sites_listed(top: dict) -> set[str]:
    """Return the site codes the document lists under ``sites`` (strings or ``{code: ...}``), valid or not."""
    raw = top.get("sites")
    if not isinstance(raw, list):
        return set()
    codes = (entry.get("code") if isinstance(entry, dict) else entry for entry in raw)
    return {code for code in codes if isinstance(code, str)}


def parse_sites(
    top: dict,
    check: _Collector,
    known_sites: Collection[str] | None,
    site_shares: Mapping[str, float],
) -> tuple[tuple[SiteSpec, ...], dict[int, str] | None]:
    """Return (the participating sites with their shares, tract -> site or None) of the document ``top``.

    Shares come from the spec, else from ``site_shares`` (the Site table), normalised over the sites taking
    part; they must add up to 1. With a ``tract_map`` shares are not used (one given is an error). Every
    problem goes to ``check``; what could be read is returned.
    """
    tract_map: dict[int, str] | None = None
    if "tract_map" in top:
        raw_map = top["tract_map"]
        if not isinstance(raw_map, dict) or not raw_map:
            check.add("tract_map", f"must be a non-empty mapping of tract -> site, got {type_name(raw_map)}")
        else:
            tract_map = {}
            for tract, site in raw_map.items():
                path = f"tract_map.{tract}"
                tract_id = check.integer(tract, path, minimum=0, maximum=DATA_ID_MAX)
                code = check.string(site, path, max_length=32)
                if code is not None and known_sites is not None and code not in known_sites:
                    check.add(path, f"unknown site {code!r}")
                if tract_id is not None and code is not None:
                    tract_map[tract_id] = code
    if "sites" not in top:
        if tract_map is None:
            check.add("sites", "is required unless tract_map is given")
            return (), None
        codes = sorted(set(tract_map.values()) | ({top["hub"]} if isinstance(top.get("hub"), str) else set()))
        return tuple(SiteSpec(code) for code in codes), tract_map

    raw_sites = top["sites"]
    if not isinstance(raw_sites, list) or not raw_sites:
        check.add("sites", f"must be a non-empty list, got {type_name(raw_sites)}")
        return (), tract_map
    entries: list[tuple[str, Any, str]] = []
    for index, entry in enumerate(raw_sites):
        path = f"sites[{index}]"
        if isinstance(entry, str):  # shorthand: just the code
            entry = {"code": entry}
        fields = check.mapping(entry, path, ("code", "share"), required=("code",))
        code = check.string(fields.get("code"), f"{path}.code", max_length=32) if "code" in fields else None
        if code is None:
            continue
        if known_sites is not None and code not in known_sites:
            check.add(f"{path}.code", f"unknown site {code!r}")
        if code in {seen for seen, _, _ in entries}:
            check.add(f"{path}.code", f"site {code!r} listed twice")
        entries.append((code, fields.get("share"), path))

    sites: list[SiteSpec] = []
    if tract_map is not None:
        for _, share, path in entries:
            if share is not None:  # would be silently ignored
                check.add(f"{path}.share",
                          "not used when tract_map assigns the tracts: remove the share or the tract_map")
        listed = {code for code, _, _ in entries}
        for tract, code in tract_map.items():
            if code not in listed:
                check.add(f"tract_map.{tract}", f"site {code!r} is not in sites")
        return tuple(SiteSpec(code) for code, _, _ in entries), tract_map

    explicit = any(share is not None for _, share, _ in entries)
    for code, share, path in entries:
        if share is None:
            share = site_shares.get(code)
            if share is None:
                check.add(f"{path}.share", f"no share given and no default share for site {code!r}")
                continue
        if isinstance(share, bool) or not isinstance(share, (int, float)):
            check.add(f"{path}.share", f"must be a number, got {type_name(share)}")
            continue
        if not math.isfinite(share):
            check.add(f"{path}.share", f"must be a finite number, got {share}")
            continue
        if not 0 <= share <= 1:
            check.add(f"{path}.share", f"must be between 0 and 1, got {share:g}")
            continue
        sites.append(SiteSpec(code, float(share)))
    if len(sites) == len(entries) and sites:
        total = sum(site.share or 0.0 for site in sites)
        if not explicit and total > 0:
            # All shares come from the Site table: normalise over the participating sites.
            sites = [SiteSpec(site.code, (site.share or 0.0) / total) for site in sites]
        elif abs(total - 1.0) > SHARE_TOLERANCE:
            check.add("sites", f"shares must add up to 1, got {total:g}")
    return tuple(sites), None
