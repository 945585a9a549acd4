"""Split restrictions evaluated against the inventory, and the multi-key data-ID restriction of a movement."""

from __future__ import annotations

import pytest

from planning.selection import compile_split
from planning.spec import SpecError
from transfers.backends.base import MovementRequest


def row(visit=1, band="g", tract=9469, exposure=10):
    return {"instrument": "MockCam", "skymap": "mock_skymap", "visit": visit, "exposure": exposure, "band": band,
            "tract": tract}


@pytest.mark.parametrize(("query", "kept"), [
    ("band IN ('g', 'r')", [True, True, False]),
    ("NOT band = 'g' AND visit > 1", [False, True, True]),
    ("visit IN (1..2) OR tract = 2", [True, True, True]),
    ("visit.band != 'i' AND tract.id = 9469", [True, True, False]),
    ("exposure IN (10, 30)", [True, False, True]),
    ("instrument = 'MockCam' AND skymap = 'mock_skymap'", [True, True, True]),
])
def test_it_evaluates_a_query_split_on_the_inventory_rows(query, kept):
    keep = compile_split("query", query=query)
    rows = [row(1, "g", 9469, 10), row(2, "r", 9469, 20), row(3, "i", 2, 30)]
    assert [keep(r) for r in rows] == kept


def test_a_values_split_compares_as_text_so_integer_values_work():
    keep = compile_split("values", values=(9469,), dimension="tract")
    assert keep(row(tract=9469)) and not keep(row(tract=2))


def test_a_comparison_the_data_cannot_satisfy_keeps_nothing():
    assert compile_split("query", query="band < 3")(row()) is False


@pytest.mark.parametrize(("query", "message"), [
    ("detector = 4", r"steps\[2\]\.split\.query: cannot evaluate against the inventory: 'detector'"),
    ("band = :b", r"steps\[2\]\.split\.query: cannot evaluate against the inventory"),
    ("band ==", r"steps\[2\]\.split\.query: not a valid Butler expression"),
])
def test_what_the_inventory_cannot_answer_is_refused_with_the_field_path(query, message):
    with pytest.raises(SpecError, match=message):
        compile_split("query", query=query, path="steps[2]")


def test_a_movement_restricts_a_visit_and_tract_type_by_both_keys():
    request = MovementRequest(
        key="return:LANCS>SLAC:after-step4", kind="return", sources={}, destination="SLAC", destination_repo="",
        dataset_types=["forced_source", "metrics"],
        dimensions={"forced_source": ["instrument", "visit", "detector", "skymap", "tract"],
                    "metrics": ["instrument", "visit"]},
        collections=[], data_ids={"visit": [17, 18], "tract": [9941]}, instrument="MockCam", skymap="mock_skymap",
        work_dir="")
    assert request.where_for("forced_source") == (
        "instrument = 'MockCam' AND visit IN (17, 18) AND skymap = 'mock_skymap' AND tract IN (9941)")
    assert request.where_for("metrics") == "instrument = 'MockCam' AND visit IN (17, 18)"
