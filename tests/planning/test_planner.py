"""The planner: groups per site and the movements of DOMAIN.md's six points."""

from __future__ import annotations

import json

import pytest
import yaml

from planning.inventory import TableInventory
from planning.planner import Plan, PlannedMovement, apportion_tracts, plan_campaign
from planning.spec import load_spec

from .conftest import SHARES, SITES, TEMPLATES


def _plan(dataflow, inventory, document: dict | None = None, name: str = "2x4") -> Plan:
    text = yaml.safe_dump(document) if document else (TEMPLATES / f"{name}.yaml").read_text()
    spec, _ = load_spec(text, known_sites=SITES, site_shares=SHARES, dataflow=dataflow)
    return plan_campaign(spec, inventory, dataflow)


def _find(plan: Plan, kind: str, **match) -> list[PlannedMovement]:
    return [
        m for m in plan.movements if m.kind == kind and all(getattr(m, key) == value for key, value in match.items())
    ]


@pytest.fixture(scope="module")
def plan_2x4(dataflow, inventory) -> Plan:
    return _plan(dataflow, inventory)


def test_it_assigns_tracts_and_visits(plan_2x4):
    sites = {site.code: site for site in plan_2x4.sites}
    assert sites["SLAC"].tracts == [9469, 9470]
    assert sites["RAL"].tracts == [1, 2]
    # 2001 overlaps 9470 (SLAC) and 9948 (IN2P3), one tract each: the tie goes to the lowest tract's owner.
    assert 2001 in sites["SLAC"].visits and 2001 not in sites["IN2P3"].visits
    # 2002 overlaps 1 (RAL) and 9942 (LANCS).
    assert 2002 in sites["RAL"].visits
    # 2003 overlaps no planned tract.
    assert all(2003 not in site.visits for site in plan_2x4.sites)


def test_point_1_setup_raws_and_defaults_before_step1(plan_2x4):
    for site in ("IN2P3", "LANCS", "RAL"):
        (raws,) = _find(plan_2x4, "setup", destination=site, dataset_types=["raw"])
        assert raws.sources == ["SLAC"] and raws.before_step == "step1"
        visits = {site.code: site.visits for site in plan_2x4.sites}[site]
        assert raws.data_ids == {"exposure": [visit * 10 for visit in visits]}
        (defaults,) = _find(plan_2x4, "setup", destination=site, dataset_types=["bias", "flat", "refcat"])
        assert defaults.before_step == "step1" and defaults.data_ids == {}
        assert defaults.collections == ["MockCam/defaults"]
    assert not _find(plan_2x4, "setup", destination="SLAC")
    # fgcm_lookup_table is a default only the hub reads: it goes nowhere.
    assert all("fgcm_lookup_table" not in m.dataset_types for m in plan_2x4.movements)


def test_point_2_catalogs_fan_in_before_step2c_one_movement_per_source(plan_2x4):
    fan_in = _find(plan_2x4, "fan_in", before_step="step2c")
    assert [m.sources for m in fan_in] == [["IN2P3"], ["LANCS"], ["RAL"]]
    for movement in fan_in:
        assert movement.destination == "SLAC"
        assert movement.dataset_types == ["isolated_star_cat", "isolated_star_sources", "visit_summary"]
        assert movement.after_steps == ["step2a", "step2b"]
    assert fan_in[0].data_ids["tract"] == [9948, 9949]


def test_point_3_fgcm_solution_fans_out_split_by_visit(plan_2x4):
    fan_out = _find(plan_2x4, "fan_out", before_step="step2d")
    assert [m.destination for m in fan_out] == ["IN2P3", "LANCS", "RAL"]
    sites = {site.code: site for site in plan_2x4.sites}
    for movement in fan_out:
        assert movement.sources == ["SLAC"] and movement.dataset_types == ["fgcm_photo_calib"]
        assert movement.data_ids == {"visit": sites[movement.destination].visits}


def test_point_4_cross_site_products_reach_the_coadding_site(plan_2x4):
    (exchange,) = _find(plan_2x4, "exchange", destination="IN2P3", before_step="step3")
    assert exchange.sources == ["SLAC"]
    assert exchange.dataset_types == ["calibrated_pvi", "final_visit_summary"]
    assert exchange.data_ids == {"visit": [2001]}
    (exchange,) = _find(plan_2x4, "exchange", destination="LANCS", before_step="step3")
    assert exchange.sources == ["RAL"] and exchange.data_ids == {"visit": [2002]}


def test_point_5_property_maps_fan_in_before_step7(plan_2x4):
    fan_in = _find(plan_2x4, "fan_in", before_step="step7")
    assert [(m.sources, m.destination) for m in fan_in] == [(["IN2P3"], "SLAC"), (["LANCS"], "SLAC"), (["RAL"], "SLAC")]
    assert all(m.dataset_types == ["deep_coadd_property_map"] for m in fan_in)


def test_point_6_final_outputs_return_and_are_archived_after_step6(plan_2x4):
    returns = _find(plan_2x4, "return")
    assert [m.sources for m in returns] == [["IN2P3"], ["LANCS"], ["RAL"]]
    assert all(m.destination == "SLAC" and m.after_steps == ["step6"] for m in returns)
    assert all(m.dataset_types == ["diff_src", "metrics"] for m in returns)
    (archive,) = _find(plan_2x4, "archive")
    assert archive.destination == "SLAC" and archive.after_movements == [m.key for m in returns]
    assert plan_2x4.movements[-1] is archive


def test_a_visit_at_two_sites_goes_to_both(plan_2x4):
    """2001 is processed at SLAC; IN2P3 coadds tract 9948 with it, so it receives its products."""
    to_in2p3 = [m for m in plan_2x4.movements_to("IN2P3") if 2001 in m.data_ids.get("visit", [])]
    assert {m.before_step for m in to_in2p3} == {"step2b", "step3"}
    coadd_group = next(g for g in plan_2x4.step("step3").groups if g.tracts == [9948])
    assert 2001 in coadd_group.visits
    # ...and SLAC, which measures 2001, receives the IN2P3 coadd it overlaps.
    (coadds,) = _find(plan_2x4, "exchange", destination="SLAC", before_step="step4")
    assert coadds.sources == ["IN2P3"] and coadds.data_ids == {"tract": [9948]}
    # Nothing moves twice: step6 reads the same coadds without a new movement.
    assert not _find(plan_2x4, "exchange", before_step="step6")


def test_it_splits_groups_by_rule(plan_2x4):
    step2b = plan_2x4.step("step2b")
    assert [(g.ordinal, g.site, g.tracts) for g in step2b.groups][:3] == [
        (1, "SLAC", [9469]),
        (2, "SLAC", [9470]),
        (3, "IN2P3", [9948]),
    ]
    assert step2b.groups[0].data_query == "skymap='mock_skymap' AND tract IN (9469)"
    (group,) = plan_2x4.step("step2c").groups
    assert (group.site, group.data_query, group.visits) == ("SLAC", "instrument='MockCam'", [])
    step1 = plan_2x4.step("step1")
    assert step1.groups[1].data_query.startswith("instrument='MockCam' AND visit IN (1009, 1010")


def test_visit_split_respects_max_size(dataflow, inventory):
    document = yaml.safe_load((TEMPLATES / "2x4.yaml").read_text())
    document["steps"][0]["split"] = {"by": "visit", "max_size": 3}
    document["steps"][1]["split"] = {"by": "exposure", "max_size": 5}
    document["steps"][7]["split"] = {"by": "values", "values": ["g", "r"]}
    document["steps"][8]["split"] = {"by": "query", "query": "band != 'u'"}
    plan = _plan(dataflow, inventory, document)
    slac = [g for g in plan.step("step1").groups if g.site == "SLAC"]
    assert [g.visits for g in slac] == [[1001, 1002, 1003], [1004, 1005, 1006], [1007, 1008, 2001]]
    assert plan.step("step2a").groups[0].data_query.endswith("exposure IN (10010, 10020, 10030, 10040, 10050)")
    assert plan.step("step4").groups[1].data_query.endswith("AND band='r'")
    assert plan.step("step6").groups[0].data_query.endswith("AND (band != 'u')")


def test_3x2_variant(dataflow, inventory):
    document = yaml.safe_load((TEMPLATES / "2x4.yaml").read_text())
    document["sites"] = ["SLAC", "IN2P3", "LANCS"]
    document["tract_map"] = {9941: "LANCS", 9942: "LANCS", 9948: "IN2P3", 9949: "IN2P3", 9469: "SLAC", 9470: "SLAC"}
    plan = _plan(dataflow, inventory, document)
    assert [m.sources for m in _find(plan, "fan_in", before_step="step2c")] == [["IN2P3"], ["LANCS"]]
    assert [m.destination for m in _find(plan, "fan_out")] == ["IN2P3", "LANCS"]
    # 2002 overlaps 1 (not planned) and 9942: LANCS owns it now.
    assert 2002 in {s.code: s for s in plan.sites}["LANCS"].visits
    assert all("RAL" not in m.sources + [m.destination] for m in plan.movements)


def test_a_site_with_no_tracts_gets_no_groups_and_no_movements(dataflow, inventory):
    document = yaml.safe_load((TEMPLATES / "2x4.yaml").read_text())
    document["tract_map"] = {t: s for t, s in document["tract_map"].items() if s != "RAL"}
    plan = _plan(dataflow, inventory, document)
    assert plan.groups_at("RAL") == []
    assert all("RAL" not in [*m.sources, m.destination] for m in plan.movements)
    ral = next(site for site in plan.sites if site.code == "RAL")
    assert ral.tracts == [] and ral.visits == []


def test_shares_apportion_tracts_deterministically():
    owners = apportion_tracts([5, 1, 3, 2, 4, 6, 7], [("A", 0.5), ("B", 0.3), ("C", 0.2)])
    assert owners == {1: "A", 2: "A", 3: "A", 4: "A", 5: "B", 6: "B", 7: "C"}
    assert apportion_tracts([1, 2], [("A", 0.0), ("B", 1.0)]) == {1: "B", 2: "B"}


def test_share_based_plan_with_a_zero_share_site(dataflow, inventory):
    document = yaml.safe_load((TEMPLATES / "2x4.yaml").read_text())
    del document["tract_map"]
    document["sites"] = [{"code": "SLAC", "share": 0.5}, {"code": "IN2P3", "share": 0.5}, {"code": "RAL", "share": 0.0}]
    plan = _plan(dataflow, inventory, document)
    sites = {site.code: site for site in plan.sites}
    assert len(sites["SLAC"].tracts) + len(sites["IN2P3"].tracts) == len(inventory.tracts())
    assert sites["RAL"].tracts == [] and not plan.movements_to("RAL")


def test_the_plan_round_trips_through_json(plan_2x4):
    data = json.loads(json.dumps(plan_2x4.to_dict()))
    assert Plan.from_dict(data) == plan_2x4
    assert Plan.from_dict(data).to_dict() == plan_2x4.to_dict()
    assert len({m.key for m in plan_2x4.movements}) == len(plan_2x4.movements)


def test_the_plan_is_stable(dataflow, inventory, plan_2x4):
    assert _plan(dataflow, inventory).to_dict() == plan_2x4.to_dict()


def test_the_2x2_template_plans(dataflow, inventory):
    plan = _plan(dataflow, inventory, name="2x2")
    assert [site.code for site in plan.sites] == ["SLAC", "IN2P3"]
    # No visit overlaps both 9469 and 9948, so nothing is exchanged site to site.
    assert {m.kind for m in plan.movements} == {"setup", "fan_in", "fan_out", "return", "archive"}


def test_table_inventory_reads_rows(inventory, tmp_path):
    infos = {info.visit: info for info in inventory.visits()}
    assert infos[2001].tracts == (9470, 9948) and infos[2001].band == "r"
    assert inventory.tracts()[:3] == [1, 2, 9469]
    bad = tmp_path / "bad.csv"
    bad.write_text("visit,band\n1,g\n")
    from planning.inventory import InventoryError

    with pytest.raises(InventoryError, match="missing column"):
        TableInventory(bad)
