"""Plan.to_dict is built field by field (asdict deep-copies every data id): it must stay what asdict gives."""

from __future__ import annotations

import dataclasses

from planning.plan import Plan

from .test_planner import plan_2x4  # noqa: F401  (module fixture)
from .test_regional import straddling_plan  # noqa: F401  (module fixture)


def _same_as_asdict(plan: Plan) -> None:
    data = plan.to_dict()
    expected = dataclasses.asdict(plan)
    assert data == expected
    # same keys in the same (field) order at every level, so the JSON text is the same too
    assert repr(data) == repr(expected)


def test_it_gives_what_asdict_gives_with_movements_and_after_movements(plan_2x4):  # noqa: F811
    assert plan_2x4.movements and any(m.after_movements for m in plan_2x4.movements)
    assert any(m.data_ids for m in plan_2x4.movements)
    _same_as_asdict(plan_2x4)


def test_it_gives_what_asdict_gives_with_sky_pixel_groups(straddling_plan):  # noqa: F811
    assert any(group.pixels for step in straddling_plan.steps for group in step.groups)
    _same_as_asdict(straddling_plan)


def test_its_lists_are_copies_the_plan_does_not_share(plan_2x4):  # noqa: F811
    data = plan_2x4.to_dict()
    data["sites"][0]["visits"].append(-1)
    data["steps"][0]["groups"][0]["visits"].append(-1)
    data["movements"][0]["sources"].append("NOWHERE")
    for values in data["movements"][0]["data_ids"].values():
        values.append(-1)
    assert Plan.from_dict(plan_2x4.to_dict()) == plan_2x4
    assert -1 not in plan_2x4.sites[0].visits and -1 not in plan_2x4.steps[0].groups[0].visits
    assert "NOWHERE" not in plan_2x4.movements[0].sources
