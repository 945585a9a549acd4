"""Tracts by shares: compact sky regions by default, id blocks as an option, the same counts either way."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from planning.assignment import apportion_counts, assign_tracts, compact_tracts, id_block_tracts
from planning.planner import plan_campaign
from planning.spec import parse_spec

from .conftest import SHARES, SITES, TEMPLATES

FOUR = [("SLAC", 0.35), ("IN2P3", 0.40), ("LANCS", 0.10), ("RAL", 0.15)]


def rings(n_rings: int = 12, per_ring: int = 240, dec0: float = -30.0, width: float = 1.5):
    """A rings sky map: ids run along rings of declination, as in Rubin's lsst_skymap."""
    tracts, ra, dec = [], [], []
    for ring in range(n_rings):
        for step in range(per_ring):
            tracts.append(ring * per_ring + step)
            ra.append((step + 0.5) * 360.0 / per_ring)
            dec.append(dec0 + (ring + 0.5) * width)
    return np.array(tracts), np.array(ra), np.array(dec)


def neighbours(n_rings: int = 12, per_ring: int = 240):
    for ring in range(n_rings):
        for step in range(per_ring):
            here = ring * per_ring + step
            yield here, ring * per_ring + (step + 1) % per_ring
            if ring + 1 < n_rings:
                yield here, (ring + 1) * per_ring + step


def boundary(owner: dict[int, str]) -> dict[str, int]:
    """Return site -> number of neighbour pairs it shares with another site."""
    cut = dict.fromkeys(set(owner.values()), 0)
    for a, b in neighbours():
        if owner[a] != owner[b]:
            cut[owner[a]] += 1
            cut[owner[b]] += 1
    return cut


def connected(tracts: set[int]) -> bool:
    adjacency: dict[int, set[int]] = {t: set() for t in tracts}
    for a, b in neighbours():
        if a in tracts and b in tracts:
            adjacency[a].add(b)
            adjacency[b].add(a)
    start = next(iter(tracts))
    seen, todo = {start}, [start]
    while todo:
        for other in adjacency[todo.pop()] - seen:
            seen.add(other)
            todo.append(other)
    return seen == tracts


def test_counts_follow_the_shares_by_largest_remainder():
    assert apportion_counts(2880, FOUR) == {"SLAC": 1008, "IN2P3": 1152, "LANCS": 288, "RAL": 432}
    assert sum(apportion_counts(7, FOUR).values()) == 7
    with pytest.raises(ValueError, match="add up to 0"):
        apportion_counts(3, [("SLAC", 0.0)])


def test_compact_regions_honour_the_shares_exactly_like_id_blocks():
    tracts, ra, dec = rings()

    compact = compact_tracts(tracts, ra, dec, FOUR)
    blocks = id_block_tracts(tracts.tolist(), FOUR)

    def count(owner):
        return {site: list(owner.values()).count(site) for site, _ in FOUR}

    assert count(compact) == count(blocks) == apportion_counts(tracts.size, FOUR)


def test_each_site_gets_one_connected_region_with_a_shorter_boundary_than_id_blocks():
    # a band of 12 rings of 1.5 deg tracts around the sky: id blocks are long strips along the rings
    tracts, ra, dec = rings()

    compact = compact_tracts(tracts, ra, dec, FOUR)
    blocks = id_block_tracts(tracts.tolist(), FOUR)

    for site, _ in FOUR:
        assert connected({t for t, owner in compact.items() if owner == site}), site
    compact_cut, block_cut = boundary(compact), boundary(blocks)
    for site, _ in FOUR:
        assert compact_cut[site] <= block_cut[site] / 2, (site, compact_cut, block_cut)


def test_the_same_input_always_gives_the_same_regions():
    tracts, ra, dec = rings()
    shuffled = np.random.default_rng(3).permutation(tracts.size)

    assert compact_tracts(tracts, ra, dec, FOUR) == compact_tracts(tracts[shuffled], ra[shuffled], dec[shuffled], FOUR)


def test_it_falls_back_to_id_blocks_without_a_centre_for_every_tract():
    tracts, ra, dec = rings(2, 8)
    partial = (tracts[:-1], ra[:-1], dec[:-1])

    assert assign_tracts(tracts, FOUR, "compact", partial) == id_block_tracts(tracts.tolist(), FOUR)
    assert assign_tracts(tracts, FOUR, "compact", None) == id_block_tracts(tracts.tolist(), FOUR)
    assert assign_tracts(tracts, FOUR, "id_blocks", (tracts, ra, dec)) == id_block_tracts(tracts.tolist(), FOUR)
    assert assign_tracts(tracts, FOUR, "compact", (tracts, ra, dec)) == compact_tracts(tracts, ra, dec, FOUR)


def _spec(**extra):
    document = yaml.safe_load((TEMPLATES / "2x4.yaml").read_text())
    del document["tract_map"]
    document.update(extra)
    return parse_spec(yaml.safe_dump(document), known_sites=SITES, site_shares=SHARES)


def test_the_planner_uses_compact_regions_when_the_inventory_knows_tract_centres(tmp_path, dataflow):
    tracts, ra, dec = rings(4, 30)
    lines = ["visit,exposure,band,tract,tract_ra,tract_dec"]
    for visit, (tract, tract_ra, tract_dec) in enumerate(zip(tracts, ra, dec, strict=True), start=1):
        lines.append(f"{visit},{visit * 10},g,{tract},{tract_ra},{tract_dec}")
    path = tmp_path / "inventory.csv"
    path.write_text("\n".join(lines) + "\n")
    from planning.inventory import TableInventory

    inventory = TableInventory(path)
    shares = [(code, _spec().shares()[code]) for code in SITES]

    compact = plan_campaign(_spec(), inventory, dataflow)
    blocks = plan_campaign(_spec(tract_assignment="id_blocks"), inventory, dataflow)

    expected_compact = compact_tracts(tracts, ra, dec, shares)
    assert {site.code: site.tracts for site in compact.sites} == {
        code: sorted(t for t, owner in expected_compact.items() if owner == code) for code in SITES
    }
    expected_blocks = id_block_tracts(tracts.tolist(), shares)
    assert {site.code: site.tracts for site in blocks.sites} == {
        code: sorted(t for t, owner in expected_blocks.items() if owner == code) for code in SITES
    }


def test_an_unknown_assignment_rule_is_a_spec_error_at_its_field():
    from planning.spec import SpecError

    with pytest.raises(SpecError) as excinfo:
        _spec(tract_assignment="spiral")
    assert [str(error) for error in excinfo.value.errors] == [
        "tract_assignment: must be one of compact, id_blocks, got 'spiral'"
    ]
