"""Which site processes a visit: by default the site owning most of its planned tracts (issue 18)."""

from __future__ import annotations

import pytest
import yaml

from planning.assignment import VISIT_ASSIGNMENTS, visit_owner
from planning.dataflow import MOCK_DRP_PIPELINE, load_dataflow
from planning.inventory import VisitInfo
from planning.planner import Plan, plan_campaign
from planning.spec import SpecError, load_spec, parse_spec

from .conftest import SHARES, SITES, TEMPLATES
from .test_plan_coverage import Inventory

OWNERS = {100: "SLAC", 101: "IN2P3", 102: "IN2P3", 103: "LANCS", 104: "RAL"}


# ------------------------------------------------------------------ the rule


def test_the_site_owning_most_of_the_visits_tracts_owns_it():
    assert visit_owner((100, 101, 102), OWNERS) == ("IN2P3", 101)
    assert visit_owner((100, 101, 102, 103), OWNERS) == ("IN2P3", 101)


def test_a_tie_goes_to_the_tied_site_owning_the_lowest_tract():
    assert visit_owner((100, 101), OWNERS) == ("SLAC", 100)
    assert visit_owner((101, 103), OWNERS) == ("IN2P3", 101)
    # LANCS and RAL tie at one tract; IN2P3's two win over SLAC's one.
    assert visit_owner((101, 102, 103, 104), {**OWNERS, 100: "LANCS"}) == ("IN2P3", 101)
    assert visit_owner((100, 103, 104), OWNERS) == ("SLAC", 100)


def test_a_visit_inside_one_site_is_that_sites_under_every_rule():
    for rule in VISIT_ASSIGNMENTS:
        assert visit_owner((101, 102), OWNERS, rule, "SLAC") == ("IN2P3", 101)


def test_the_lowest_tract_rule_is_the_owner_of_the_first_tract():
    assert visit_owner((100, 101, 102), OWNERS, "lowest_tract") == ("SLAC", 100)


def test_hub_first_gives_the_hub_every_visit_on_its_tracts_and_the_rest_by_most_tracts():
    assert visit_owner((100, 101, 102), OWNERS, "hub_first", "SLAC") == ("SLAC", 100)
    assert visit_owner((101, 102, 103), OWNERS, "hub_first", "SLAC") == ("IN2P3", 101)
    # the anchor is the hub's lowest tract, not the visit's
    assert visit_owner((100, 101, 102), {**OWNERS, 100: "IN2P3", 102: "SLAC"}, "hub_first", "SLAC") == ("SLAC", 102)


def test_an_unknown_rule_or_a_visit_without_tracts_is_refused():
    with pytest.raises(ValueError, match="unknown visit assignment 'spiral'"):
        visit_owner((100, 101), OWNERS, "spiral")
    with pytest.raises(IndexError):
        visit_owner((), OWNERS)


# ------------------------------------------------------------------ the spec field


def _document(**extra) -> dict:
    document = yaml.safe_load((TEMPLATES / "2x2.yaml").read_text())
    document["sites"] = ["SLAC", "IN2P3", "LANCS"]
    document["tract_map"] = {100: "SLAC", 101: "IN2P3", 102: "IN2P3", 103: "LANCS"}
    document.update(extra)
    return document


def test_the_default_visit_assignment_is_most_tracts_and_others_can_be_named():
    assert parse_spec(yaml.safe_dump(_document()), known_sites=SITES).visit_assignment == "most_tracts"
    for rule in VISIT_ASSIGNMENTS:
        spec = parse_spec(yaml.safe_dump(_document(visit_assignment=rule)), known_sites=SITES)
        assert spec.visit_assignment == rule


def test_an_unknown_visit_assignment_is_a_spec_error_at_its_field():
    with pytest.raises(SpecError) as excinfo:
        parse_spec(yaml.safe_dump(_document(visit_assignment="centre")), known_sites=SITES)
    assert [str(error) for error in excinfo.value.errors] == [
        "visit_assignment: must be one of most_tracts, lowest_tract, hub_first, got 'centre'"
    ]


# ------------------------------------------------------------------ in the plan

# Visit 1 straddles SLAC's tract 100 and IN2P3's 101, 102; visit 2 ties SLAC and IN2P3 at one tract each; visit
# 3 straddles IN2P3's 102 and LANCS's 103; visit 4 lies inside LANCS's 103.
STRADDLING = Inventory([VisitInfo(1, 10, "g", (100, 101, 102)), VisitInfo(2, 20, "r", (100, 101)),
                        VisitInfo(3, 30, "g", (102, 103)), VisitInfo(4, 40, "i", (103,))])


@pytest.fixture(scope="module")
def mock_dataflow():
    return load_dataflow(str(MOCK_DRP_PIPELINE))


def _plan(document: dict, dataflow) -> Plan:
    spec, _ = load_spec(yaml.safe_dump(document), known_sites=SITES, site_shares=SHARES, dataflow=dataflow)
    return plan_campaign(spec, STRADDLING, dataflow)


def test_a_straddling_visit_goes_to_the_majority_site_and_its_products_to_the_other(mock_dataflow):
    plan = _plan(_document(), mock_dataflow)
    assert {site.code: site.visits for site in plan.sites} == {"SLAC": [2], "IN2P3": [1, 3], "LANCS": [4]}
    # step1 runs visit 1 at IN2P3; SLAC's tract-level step2b reads its source_table_visit by an exchange.
    (step1_at_in2p3,) = [g for g in plan.step("step1").groups if g.site == "IN2P3"]
    assert step1_at_in2p3.visits == [1, 3]
    (into_slac,) = [m for m in plan.movements
                    if m.kind == "exchange" and m.destination == "SLAC" and m.before_step == "step2b"]
    assert into_slac.sources == ["IN2P3"] and into_slac.data_ids == {"visit": [1]}


def test_ties_do_not_depend_on_the_order_the_sites_are_listed(mock_dataflow):
    listed = _plan(_document(), mock_dataflow)
    reversed_sites = _plan(_document(sites=["LANCS", "IN2P3", "SLAC"]), mock_dataflow)
    assert {site.code: site.visits for site in reversed_sites.sites} == {
        site.code: site.visits for site in listed.sites}


def test_the_lowest_tract_rule_keeps_the_old_ownership(mock_dataflow):
    plan = _plan(_document(visit_assignment="lowest_tract"), mock_dataflow)
    assert {site.code: site.visits for site in plan.sites} == {"SLAC": [1, 2], "IN2P3": [3], "LANCS": [4]}


def test_hub_first_gives_the_hub_the_visits_on_its_tracts(mock_dataflow):
    plan = _plan(_document(visit_assignment="hub_first"), mock_dataflow)
    assert {site.code: site.visits for site in plan.sites} == {"SLAC": [1, 2], "IN2P3": [3], "LANCS": [4]}


def test_a_visit_level_step_split_by_tract_groups_a_sites_visits_by_its_own_lowest_tract(mock_dataflow):
    """Visit 1's lowest tract is SLAC's 100, but IN2P3 owns it: it is in IN2P3's group of tract 101."""
    document = _document()
    document["steps"][0]["split"] = {"by": "tract", "max_size": 1}
    plan = _plan(document, mock_dataflow)
    groups = {(g.site, tuple(g.visits)) for g in plan.step("step1").groups}
    assert groups == {("SLAC", (2,)), ("IN2P3", (1,)), ("IN2P3", (3,)), ("LANCS", (4,))}
    in2p3 = sorted((g.visits, g.data_query) for g in plan.step("step1").groups if g.site == "IN2P3")
    assert in2p3[0][0] == [1] and "visit IN (1)" in in2p3[0][1]
