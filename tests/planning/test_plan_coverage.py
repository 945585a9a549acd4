"""Plans follow the data: splits, returns per producer, no empty group, nothing lost or moved in vain (issue 14)."""

from __future__ import annotations

import re

import pytest
import yaml

from planning.dataflow import MOCK_DRP_PIPELINE, DatasetTypeInfo, StepDataflow, dataflow_from_mapping, load_dataflow
from planning.inventory import VisitInfo
from planning.planner import Plan, plan_campaign
from planning.selection import compile_split
from planning.spec import SpecError, load_spec

from .conftest import SHARES, SITES, TEMPLATES
from .plan_check import check_archive, check_plan, check_returns


class Inventory:
    def __init__(self, visits: list[VisitInfo]) -> None:
        self._visits = sorted(visits, key=lambda info: info.visit)

    def __repr__(self) -> str:
        return f"Inventory({self._visits!r})"

    def visits(self) -> list[VisitInfo]:
        return list(self._visits)

    def tracts(self) -> list[int]:
        return sorted({t for info in self._visits for t in info.tracts})


@pytest.fixture(scope="module")
def mock_dataflow():
    return load_dataflow(str(MOCK_DRP_PIPELINE))


def plan_of(document: dict, dataflow, inventory) -> Plan:
    spec, _ = load_spec(yaml.safe_dump(document), known_sites=SITES, site_shares=SHARES, dataflow=dataflow)
    return plan_campaign(spec, inventory, dataflow)


def problems_of(plan: Plan, document: dict, dataflow, inventory) -> list[str]:
    planned = {t for site in plan.sites for t in site.tracts}
    visit_tracts = {info.visit: tuple(t for t in info.tracts if t in planned) for info in inventory.visits()}
    visit_tracts = {v: ts for v, ts in visit_tracts.items() if ts}
    exposure_of = {info.visit: info.exposure for info in inventory.visits()}
    inputs = set(document["inputs"].get("dataset_types", ["raw"]))
    inputs |= {name for entry in document.get("defaults", []) for name in entry["dataset_types"]}
    outputs = document.get("outputs", {})
    wanted = list(dict.fromkeys([*outputs.get("return", []), *outputs.get("archive", [])]))
    keep = split_filters(document, inventory)
    return (check_plan(plan, dataflow, visit_tracts, exposure_of, inputs, keep)
            + check_returns(plan, dataflow, visit_tracts, exposure_of, wanted, keep)
            + check_archive(plan, dataflow, outputs.get("archive", [])))


def split_filters(document: dict, inventory) -> dict:
    """Return step -> keep(visit, tract): the pairs its values/query split keeps, read off the spec."""
    infos = {info.visit: info for info in inventory.visits()}
    filters = {}
    for step in document["steps"]:
        split = step.get("split") or {}
        predicate = compile_split(split.get("by", ""), values=tuple(split.get("values", ())),
                                  dimension=split.get("dimension", "band"), query=split.get("query"))
        if predicate is not None:
            def keep(v: int, t: int, predicate=predicate) -> bool:
                return predicate({"instrument": document["instrument"], "skymap": document["skymap"], "visit": v,
                                  "exposure": infos[v].exposure, "band": infos[v].band, "tract": t})

            filters[step["name"]] = keep
    return filters


def template(name: str) -> dict:
    return yaml.safe_load((TEMPLATES / f"{name}.yaml").read_text())


def step_of(document: dict, name: str) -> dict:
    return next(step for step in document["steps"] if step["name"] == name)


# A 2x2 survey where IN2P3's tract has no i-band visit, and SLAC's visit 3 straddles both tracts.
TWO_BY_TWO = Inventory([
    VisitInfo(1, 10, "g", (9469,)), VisitInfo(2, 20, "r", (9469,)), VisitInfo(3, 30, "i", (9469, 9948)),
    VisitInfo(4, 40, "i", (9469,)), VisitInfo(5, 50, "g", (9948,)), VisitInfo(6, 60, "r", (9948,)),
])


def test_the_shipped_templates_plan_with_no_problem(mock_dataflow, inventory):
    for name in ("2x2", "2x4"):
        document = template(name)
        plan = plan_of(document, mock_dataflow, inventory)
        assert problems_of(plan, document, mock_dataflow, inventory) == []


def test_it_makes_a_values_group_only_where_the_site_has_that_value(mock_dataflow):
    document = template("2x2")
    step_of(document, "step4")["split"] = {"by": "values", "dimension": "band", "values": ["g", "r", "i"]}
    plan = plan_of(document, mock_dataflow, TWO_BY_TWO)
    groups = [(g.site, g.data_query.rsplit(" AND ", 1)[1], g.visits, g.tracts) for g in plan.step("step4").groups]
    assert groups == [
        ("SLAC", "band='g'", [1], [9469]),
        ("SLAC", "band='r'", [2], [9469]),
        ("SLAC", "band='i'", [3, 4], [9469]),
        ("IN2P3", "band='g'", [5], [9948]),
        ("IN2P3", "band='r'", [6], [9948]),
        ("IN2P3", "band='i'", [3], [9948]),  # the straddling visit is IN2P3's only i-band data
    ]
    assert problems_of(plan, document, mock_dataflow, TWO_BY_TWO) == []


def test_a_values_split_value_that_no_site_has_is_a_spec_error_not_an_empty_group(mock_dataflow):
    document = template("2x2")
    step_of(document, "step4")["split"] = {"by": "values", "dimension": "band", "values": ["g", "z"]}
    with pytest.raises(SpecError) as excinfo:
        plan_of(document, mock_dataflow, TWO_BY_TWO)
    assert [str(error) for error in excinfo.value.errors] == [
        "steps[7].split.values[1]: no such band in the campaign's data: 'z'"]


def test_a_query_split_restricts_the_groups_and_the_returns(mock_dataflow):
    document = template("2x2")
    step_of(document, "step6")["split"] = {"by": "query", "query": "band IN ('g', 'r')"}
    plan = plan_of(document, mock_dataflow, TWO_BY_TWO)
    assert [(g.site, g.visits) for g in plan.step("step6").groups] == [("SLAC", [1, 2]), ("IN2P3", [5, 6])]
    (back,) = [m for m in plan.movements if m.kind == "return"]
    # Only the g and r visits IN2P3 processed come back: metrics and diff_src for 5 and 6.
    assert back.sources == ["IN2P3"] and back.data_ids == {"visit": [5, 6]} and back.expected_count == 4
    assert problems_of(plan, document, mock_dataflow, TWO_BY_TWO) == []


def test_a_query_split_on_a_tract_level_step_drops_tracts_it_excludes(mock_dataflow):
    document = template("2x2")
    step_of(document, "step4")["split"] = {"by": "query", "query": "tract = 9948 AND visit.band != 'i'"}
    plan = plan_of(document, mock_dataflow, TWO_BY_TWO)
    assert [(g.site, g.visits, g.tracts) for g in plan.step("step4").groups] == [("IN2P3", [5, 6], [9948])]
    assert plan.step("step4").groups[0].data_query.endswith("AND (tract = 9948 AND visit.band != 'i')")


def test_a_query_the_inventory_cannot_answer_is_refused_with_its_path(mock_dataflow):
    document = template("2x2")
    step_of(document, "step6")["split"] = {"by": "query", "query": "day_obs > 20250101"}
    with pytest.raises(SpecError, match=r"steps\[8\]\.split\.query: cannot evaluate .*'day_obs'"):
        plan_of(document, mock_dataflow, TWO_BY_TWO)
    step_of(document, "step6")["split"] = {"by": "query", "query": "band IN ("}
    with pytest.raises(SpecError, match=r"steps\[8\]\.split\.query: not a Butler expression"):
        plan_of(document, mock_dataflow, TWO_BY_TWO)


def test_a_values_split_on_a_dimension_the_inventory_lacks_is_refused(mock_dataflow):
    document = template("2x2")
    step_of(document, "step6")["split"] = {"by": "values", "dimension": "physical_filter", "values": ["g"]}
    with pytest.raises(SpecError, match=r"steps\[8\]\.split\.dimension: 'physical_filter' is not known"):
        plan_of(document, mock_dataflow, TWO_BY_TWO)


def test_a_split_upstream_narrows_what_moves_downstream(mock_dataflow, inventory):
    """step2d makes calibrated_pvi only for g and r: no i-band pvi is exchanged before step3."""
    document = template("2x4")
    step_of(document, "step2d")["split"] = {"by": "query", "query": "band != 'i'"}
    plan = plan_of(document, mock_dataflow, inventory)
    bands = {info.visit: info.band for info in inventory.visits()}
    exchanged = [v for m in plan.movements if m.kind == "exchange" and "calibrated_pvi" in m.dataset_types
                 for v in m.data_ids.get("visit", [])]
    assert exchanged and all(bands[v] != "i" for v in exchanged)
    assert problems_of(plan, document, mock_dataflow, inventory) == []


def test_a_per_visit_and_tract_output_returns_from_the_site_that_makes_each_piece(mock_dataflow, inventory):
    """forced_source (visit x tract) is made at the tract owner: 2002 x 9942 comes from LANCS, not RAL."""
    document = template("2x4")
    document["outputs"] = {"return": ["forced_source"]}
    plan = plan_of(document, mock_dataflow, inventory)
    returns = {m.sources[0]: m for m in plan.movements if m.kind == "return"}
    assert returns["LANCS"].data_ids["tract"] == [9941, 9942] and 2002 in returns["LANCS"].data_ids["visit"]
    assert 2002 in returns["RAL"].data_ids["visit"] and returns["RAL"].data_ids["tract"] == [1, 2]
    assert returns["LANCS"].after_steps == ["step4"] and returns["LANCS"].key == "return:LANCS>SLAC:after-step4"
    # Every piece counts: one per (visit, tract) the site's step4 groups make.
    overlaps = {(info.visit, t) for info in inventory.visits() for t in info.tracts if t in (9941, 9942)}
    assert returns["LANCS"].expected_count == len(overlaps)
    assert problems_of(plan, document, mock_dataflow, inventory) == []


def test_returns_of_different_producers_are_separate_movements(mock_dataflow, inventory):
    document = template("2x4")
    document["outputs"] = {"return": ["forced_source", "metrics"], "archive": ["metrics"]}
    plan = plan_of(document, mock_dataflow, inventory)
    from_lancs = [m for m in plan.movements if m.kind == "return" and m.sources == ["LANCS"]]
    assert [(m.key, m.dataset_types) for m in from_lancs] == [
        ("return:LANCS>SLAC:after-step4", ["forced_source"]),
        ("return:LANCS>SLAC:after-step6", ["metrics"]),
    ]
    archive = plan.movements[-1]
    assert archive.after_movements == [m.key for m in plan.movements if m.kind == "return" and
                                       "metrics" in m.dataset_types]
    assert problems_of(plan, document, mock_dataflow, inventory) == []


def test_an_output_the_hub_already_received_is_not_returned_again(mock_dataflow, inventory):
    """visit_summary reaches the hub for step2c; returning it again would move it twice."""
    document = template("2x4")
    document["outputs"] = {"return": ["visit_summary"]}
    plan = plan_of(document, mock_dataflow, inventory)
    assert not [m for m in plan.movements if m.kind == "return"]


def test_a_group_whose_upstream_inputs_a_split_excluded_is_not_made(mock_dataflow):
    """step1 makes pvi only for i-band visits: IN2P3 owns no i-band visit, so it gets no step2a/step2d group."""
    document = template("2x2")
    step_of(document, "step1")["split"] = {"by": "query", "query": "band = 'i'"}
    plan = plan_of(document, mock_dataflow, TWO_BY_TWO)
    assert [(g.site, g.visits) for g in plan.step("step1").groups] == [("SLAC", [3, 4])]
    assert [(g.site, g.visits) for g in plan.step("step2a").groups] == [("SLAC", [3, 4])]
    assert [(g.site, g.visits) for g in plan.step("step2d").groups] == [("SLAC", [3, 4])]
    # IN2P3's tract still has data: the straddling visit 3, made at SLAC; nothing else of it is read there.
    assert [(g.site, g.visits, g.tracts) for g in plan.step("step2b").groups] == [
        ("SLAC", [3, 4], [9469]), ("IN2P3", [3], [9948])]
    assert [(g.site, g.visits) for g in plan.step("step6").groups] == [("SLAC", [3, 4])]
    exchanged = {m.key: (m.dataset_types, m.data_ids, m.expected_count) for m in plan.movements
                 if m.destination == "IN2P3" and m.kind == "exchange"}
    assert exchanged["exchange:SLAC>IN2P3:step2b"] == (["source_table_visit"], {"visit": [3]}, 1)
    # No return from IN2P3 expects the metrics or diff_src of visits 5 and 6 that no group makes.
    assert not [m for m in plan.movements if m.kind == "return"]
    assert problems_of(plan, document, mock_dataflow, TWO_BY_TWO) == []


def test_a_tract_whose_visits_all_lack_upstream_inputs_gets_no_group(mock_dataflow):
    """step2d makes calibrated_pvi only for visits 1 and 2 (tract 9469 only): IN2P3 has nothing to coadd."""
    document = template("2x2")
    step_of(document, "step2d")["split"] = {"by": "values", "dimension": "visit", "values": [1, 2]}
    plan = plan_of(document, mock_dataflow, TWO_BY_TWO)
    assert [(g.site, g.visits, g.tracts) for g in plan.step("step3").groups] == [("SLAC", [1, 2], [9469])]
    assert [(g.site, g.tracts) for g in plan.step("step4").groups] == [("SLAC", [9469])]
    assert not [m for m in plan.movements if m.destination == "IN2P3" and m.before_step in ("step3", "step4")]
    assert problems_of(plan, document, mock_dataflow, TWO_BY_TWO) == []


FORCED_SOURCE_READER = StepDataflow(
    label="step5", tasks=("consolidateForcedSource",),
    inputs={"forced_source": DatasetTypeInfo(
        "forced_source", ("instrument", "visit", "detector", "skymap", "tract"), "StructuredDataDict")},
    outputs={"forced_source_visit": DatasetTypeInfo("forced_source_visit", ("instrument", "visit"),
                                                    "StructuredDataDict")},
    dimensions=("instrument", "visit"))


@pytest.fixture(scope="module")
def reader_dataflow(mock_dataflow):
    """The mock DRP and step5: per visit, the forced photometry made at each tract owner (visit x tract)."""
    return dataflow_from_mapping(mock_dataflow.uri, {**mock_dataflow.steps, "step5": FORCED_SOURCE_READER})


def with_step5(document: dict, split: dict | None) -> dict:
    document["stages"][-1]["steps"].append("step5")
    document["steps"].append({"name": "step5", "memory_mb": 2000, **({"split": split} if split else {})})
    return document


# With visit_assignment lowest_tract, SLAC owns visits 1 (g) and 2 (r), both straddling IN2P3's tracts 101 and
# 102; IN2P3 owns visit 3. (By the default most_tracts IN2P3 would own them all and nothing would reach SLAC.)
STRADDLING = Inventory([VisitInfo(1, 10, "g", (100, 101, 102)), VisitInfo(2, 20, "r", (100, 101, 102)),
                        VisitInfo(3, 30, "g", (101,))])


def carried(plan: Plan, movement, made_at: str) -> set[tuple[int, int]]:
    """Return the forced_source (visit, tract) pieces the movement selects of what ``made_at``'s step4 made."""
    overlaps = {info.visit: info.tracts for info in STRADDLING.visits()}
    made = {(v, t) for g in plan.step("step4").groups if g.site == made_at
            for v in g.visits for t in g.tracts if t in overlaps[v]}
    return {(v, t) for v, t in made if v in movement.data_ids["visit"] and t in movement.data_ids["tract"]}


def test_a_visit_x_tract_exchange_carries_exactly_the_pairs_the_receiving_groups_read(reader_dataflow):
    """step5 keeps (visit 2, tract 102) out: no movement selects it, though visit 2 and tract 102 both move."""
    document = with_step5(template("2x2"), {"by": "query", "query": "band = 'g' OR tract = 101"})
    document["tract_map"] = {100: "SLAC", 101: "IN2P3", 102: "IN2P3"}
    document["visit_assignment"] = "lowest_tract"
    plan = plan_of(document, reader_dataflow, STRADDLING)
    into_slac = [m for m in plan.movements if m.before_step == "step5" and m.destination == "SLAC"]
    assert into_slac and all(m.sources == ["IN2P3"] and m.dataset_types == ["forced_source"] for m in into_slac)
    moved = [carried(plan, m, "IN2P3") for m in into_slac]
    assert set().union(*moved) == {(1, 101), (1, 102), (2, 101)}
    assert sum(len(pieces) for pieces in moved) == 3  # no pair twice
    assert [m.expected_count for m in into_slac] == [len(pieces) for pieces in moved]
    assert len({m.key for m in plan.movements}) == len(plan.movements)
    assert problems_of(plan, document, reader_dataflow, STRADDLING) == []


def test_a_visit_x_tract_exchange_that_is_a_rectangle_stays_one_movement(reader_dataflow):
    document = with_step5(template("2x2"), None)
    document["tract_map"] = {100: "SLAC", 101: "IN2P3", 102: "IN2P3"}
    document["visit_assignment"] = "lowest_tract"
    plan = plan_of(document, reader_dataflow, STRADDLING)
    (into_slac,) = [m for m in plan.movements if m.before_step == "step5" and m.destination == "SLAC"]
    assert into_slac.data_ids == {"tract": [101, 102], "visit": [1, 2]} and into_slac.expected_count == 4
    assert problems_of(plan, document, reader_dataflow, STRADDLING) == []


def test_a_mapped_tract_without_data_is_refused_at_its_path(mock_dataflow):
    document = template("2x2")
    document["tract_map"][777] = "IN2P3"
    with pytest.raises(SpecError) as excinfo:
        plan_of(document, mock_dataflow, TWO_BY_TWO)
    assert [str(error) for error in excinfo.value.errors] == ["tract_map.777: no such tract in the inventory"]


def test_movement_restrictions_with_two_keys_round_trip(mock_dataflow, inventory):
    document = template("2x4")
    document["outputs"] = {"return": ["forced_source"]}
    plan = plan_of(document, mock_dataflow, inventory)
    assert Plan.from_dict(plan.to_dict()) == plan


# ------------------------------------------------------------------ property: random small surveys and specs

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

BANDS = ("g", "r", "i")
LEVELS = {"step1": "visit", "step2a": "visit", "step2b": "tract", "step2d": "visit", "step3": "tract",
          "step4": "tract", "step6": "visit", "step5": "visit"}
PRODUCTS = ("pvi", "visit_summary", "isolated_star_cat", "calibrated_pvi", "deep_coadd", "object_table",
            "forced_source", "diff_src", "metrics")


#: What a generated spec may be refused for: data it names that the survey does not have.
REFUSALS = re.compile(r"no such tract in the inventory|no such band in the campaign's data|matches no data")


@st.composite
def surveys_and_specs(draw):
    tracts = draw(st.lists(st.integers(100, 109), min_size=1, max_size=5, unique=True))
    visits = []
    for visit in range(1, draw(st.integers(1, 12)) + 1):
        overlapped = draw(st.lists(st.sampled_from(tracts + [999]), min_size=1, max_size=3, unique=True))
        visits.append(VisitInfo(visit, visit * 10, draw(st.sampled_from(BANDS)), tuple(sorted(overlapped))))
    sites = draw(st.lists(st.sampled_from(SITES), min_size=1, max_size=4, unique=True))
    document = with_step5(template("2x2"), None)  # step5 reads forced_source: visit x tract exchanges
    document["hub"] = sites[0]
    document["sites"] = sites
    # Only tracts the inventory has: a tract_map tract without data is refused (tested on its own above).
    covered = sorted({tract for info in visits for tract in info.tracts if tract in tracts}) or tracts
    document["tract_map"] = {tract: draw(st.sampled_from(sites)) for tract in covered}
    for step in document["steps"]:
        level = LEVELS.get(step["name"])
        if level is None:
            continue
        kinds = ["tract", "values", "query"] + (["visit", "exposure"] if level == "visit" else [])
        kind = draw(st.sampled_from(kinds))
        if kind in ("visit", "exposure", "tract"):
            step["split"] = {"by": kind, "max_size": draw(st.integers(1, 4))}
        elif kind == "values":
            step["split"] = {"by": "values", "dimension": "band",
                             "values": draw(st.lists(st.sampled_from(BANDS), min_size=1, max_size=3, unique=True))}
        else:
            chosen = draw(st.lists(st.sampled_from(BANDS), min_size=1, max_size=2, unique=True))
            query = "band IN (" + ", ".join(f"'{b}'" for b in chosen) + ")"
            if draw(st.booleans()):
                query += f" OR tract = {draw(st.sampled_from(tracts))}"
            step["split"] = {"by": "query", "query": query}
    returned = draw(st.lists(st.sampled_from(PRODUCTS), max_size=3, unique=True))
    archived = draw(st.lists(st.sampled_from(returned), max_size=len(returned), unique=True)) if returned else []
    document["outputs"] = {"return": returned, "archive": archived}
    return Inventory(visits), document


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(surveys_and_specs())
def test_property_every_group_has_data_every_read_is_there_and_nothing_moves_in_vain(reader_dataflow, case):
    inventory, document = case
    try:
        plan = plan_of(document, reader_dataflow, inventory)
    except SpecError as exc:  # refused, never planned wrong: only for input that matches no data
        assert all(REFUSALS.search(str(error)) for error in exc.errors), exc.errors
        return
    for step in plan.steps:
        for group in step.groups:
            assert step.level == "global" or (group.visits and group.tracts), (step.name, group)
    problems = problems_of(plan, document, reader_dataflow, inventory)
    assert problems == [], (problems, inventory, document["tract_map"], document["hub"],
                            {s["name"]: s.get("split") for s in document["steps"]}, document["outputs"])
    assert len({m.key for m in plan.movements}) == len(plan.movements)
    assert Plan.from_dict(plan.to_dict()) == plan


def test_a_campaign_run_wholly_at_the_hub_still_archives_its_outputs(mock_dataflow):
    """Nothing returns, yet every metrics and diff_src piece the hub made is archived, after step6."""
    document = template("2x2")
    document["sites"] = ["SLAC"]
    document["tract_map"] = {9469: "SLAC", 9948: "SLAC"}
    plan = plan_of(document, mock_dataflow, TWO_BY_TWO)
    assert not [m for m in plan.movements if m.kind == "return"]
    (archive,) = [m for m in plan.movements if m.kind == "archive"]
    assert (archive.sources, archive.destination, archive.dataset_types) == (["SLAC"], "SLAC", ["diff_src", "metrics"])
    assert archive.after_steps == ["step6"] and archive.after_movements == []
    assert archive.expected_count == 2 * 6  # two dataset types, one piece per visit


def test_an_archived_output_the_hub_received_for_its_own_step_is_archived_after_it_arrives(mock_dataflow):
    """visit_summary reaches SLAC by the fan-in before step2c (not by a return): the archive waits for it."""
    document = template("2x2")
    document["outputs"] = {"return": [], "archive": ["visit_summary"]}
    plan = plan_of(document, mock_dataflow, TWO_BY_TWO)
    (archive,) = [m for m in plan.movements if m.kind == "archive"]
    fan_in = [m for m in plan.movements if m.kind == "fan_in" and "visit_summary" in m.dataset_types]
    assert fan_in and archive.after_movements == [m.key for m in fan_in]
    assert archive.dataset_types == ["visit_summary"] and archive.expected_count == 6
    assert archive.sources == ["SLAC", "IN2P3"] and archive.after_steps == ["step2a"]


def test_an_archived_output_of_a_global_step_is_archived(mock_dataflow):
    """fgcm_photo_calib is made once at the hub by step2c: archived with the returned metrics."""
    document = template("2x2")
    document["outputs"] = {"return": ["metrics"], "archive": ["fgcm_photo_calib", "metrics"]}
    plan = plan_of(document, mock_dataflow, TWO_BY_TWO)
    (archive,) = [m for m in plan.movements if m.kind == "archive"]
    assert archive.dataset_types == ["fgcm_photo_calib", "metrics"] and archive.after_steps == ["step2c", "step6"]
    assert archive.expected_count == 6 + 6
    assert archive.after_movements == [m.key for m in plan.movements if m.kind == "return"]
