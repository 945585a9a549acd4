"""Regional (healpixN) steps: one group per pixel, at the site holding most of its inputs."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from planning.inventory import VisitInfo
from planning.planner import PlanningError, plan_campaign
from planning.regions import pixel_of
from planning.spec import load_spec

from .conftest import TEMPLATES

STEP2C = "step2c-recalibrate-healpix"
STEP2D = "step2d-recalibrate-visits"


class _Inventory:
    def __init__(self, visits: list[VisitInfo]) -> None:
        self._visits = visits

    def visits(self) -> list[VisitInfo]:
        return list(self._visits)

    def tracts(self) -> list[int]:
        return sorted({tract for info in self._visits for tract in info.tracts})


def _visit(visit: int, tract: int, ra: float | None, dec: float | None = 0.0) -> VisitInfo:
    return VisitInfo(visit, visit * 10, "r", (tract,), ra, dec)


def _spec(tract_map: dict[int, str], dataflow):
    document = yaml.safe_load((TEMPLATES / "lsstcam-2x2.yaml").read_text())
    document["tract_map"] = tract_map
    spec, _ = load_spec(yaml.safe_dump(document), dataflow=dataflow)
    return spec


@pytest.fixture(scope="module")
def straddling_plan(lsstcam_yaml_dataflow):
    """Pixel WEST (ra 10) holds only SLAC's tract 100; pixel EAST (ra 15-20) SLAC's 200 and IN2P3's 300."""
    visits = [_visit(1, 100, 10.0), _visit(2, 100, 10.2), _visit(4, 200, 15.0), _visit(5, 200, 15.2)]
    visits += [_visit(6, 300, 20.0), _visit(7, 300, 20.2), _visit(8, 300, 20.4)]
    spec = _spec({100: "SLAC", 200: "SLAC", 300: "IN2P3"}, lsstcam_yaml_dataflow)
    return plan_campaign(spec, _Inventory(visits), lsstcam_yaml_dataflow)


def _pixels():
    west = pixel_of(_visit(1, 100, 10.0), 3)
    east = pixel_of(_visit(4, 200, 15.0), 3)
    assert west != east and pixel_of(_visit(6, 300, 20.0), 3) == east
    return west, east


def test_it_runs_one_group_per_pixel_at_the_site_holding_most_of_its_inputs(straddling_plan):
    west, east = _pixels()
    groups = {tuple(group.pixels["healpix3"]): group for group in straddling_plan.step(STEP2C).groups}
    assert set(groups) == {(west,), (east,)}
    west_group, east_group = groups[(west,)], groups[(east,)]
    # the pixel is not in the data query: daf_butler cannot join healpix3 to visits and tracts there; the
    # quantum-graph builder gets it from a data-ID table (pixel x visits x tracts)
    assert {group.data_query for group in groups.values()} == {"instrument='MockCam'"}
    assert (west_group.site, west_group.visits, west_group.tracts) == ("SLAC", [1, 2], [100])
    # IN2P3 holds 3 visits and 1 tract of the east pixel's inputs, SLAC 2 visits and 1 tract
    assert (east_group.site, east_group.visits, east_group.tracts) == ("IN2P3", [4, 5, 6, 7, 8], [200, 300])
    assert straddling_plan.step(STEP2C).level == "healpix"


def test_it_moves_only_the_data_ids_inside_the_straddling_pixel(straddling_plan):
    into_2c = [m for m in straddling_plan.movements if m.before_step == STEP2C]
    (movement,) = into_2c  # the west pixel stays at SLAC: nothing moves for it
    assert (movement.kind, movement.sources, movement.destination) == ("exchange", ["SLAC"], "IN2P3")
    assert movement.dataset_types == ["isolated_star", "isolated_star_association", "preliminary_visit_summary"]
    assert movement.data_ids == {"tract": [200], "visit": [4, 5]}  # not tract 100, not visits 1, 2


def test_it_sends_the_pixel_outputs_to_the_sites_whose_later_steps_read_them(straddling_plan):
    _, east = _pixels()
    back = [m for m in straddling_plan.movements if m.before_step == STEP2D and m.kind == "exchange"]
    (movement,) = back
    assert (movement.sources, movement.destination) == (["IN2P3"], "SLAC")
    assert movement.dataset_types == [
        "gbdesHealpix3AstrometricFitSkyWcsCatalog",
        "gbdesHealpix3AstrometricFit_fitStars",
    ]
    assert movement.data_ids == {"healpix3": [east], "visit": [4, 5]}


def test_it_moves_nothing_for_a_pixel_inside_a_single_site(lsstcam_yaml_dataflow):
    visits = [_visit(1, 100, 10.0), _visit(2, 100, 10.2), _visit(6, 300, 20.0), _visit(7, 300, 20.2)]
    spec = _spec({100: "SLAC", 300: "IN2P3"}, lsstcam_yaml_dataflow)
    plan = plan_campaign(spec, _Inventory(visits), lsstcam_yaml_dataflow)
    assert [group.site for group in plan.step(STEP2C).groups] == ["SLAC", "IN2P3"]
    regional = {STEP2C, STEP2D}
    assert not [m for m in plan.movements if m.before_step in regional and m.kind == "exchange"]


def test_it_gives_a_tied_pixel_to_the_hub(lsstcam_yaml_dataflow):
    visits = [_visit(4, 200, 15.0), _visit(6, 300, 20.0)]
    spec = _spec({200: "IN2P3", 300: "SLAC"}, lsstcam_yaml_dataflow)
    spec_with_hub_second = dataclasses.replace(spec, sites=tuple(reversed(spec.sites)))  # a tie is not "first site"
    plan = plan_campaign(spec_with_hub_second, _Inventory(visits), lsstcam_yaml_dataflow)
    assert [group.site for group in plan.step(STEP2C).groups] == ["SLAC"]


def test_it_refuses_a_regional_step_over_visits_without_sky_position(lsstcam_yaml_dataflow):
    spec = _spec({100: "SLAC"}, lsstcam_yaml_dataflow)
    with pytest.raises(PlanningError, match="visit 1 has no sky position"):
        plan_campaign(spec, _Inventory([_visit(1, 100, None, None)]), lsstcam_yaml_dataflow)


def test_it_reads_visit_centres_from_an_inventory_table(tmp_path):
    from planning.inventory import InventoryError, TableInventory

    table = tmp_path / "visits.csv"
    table.write_text("visit,exposure,band,tract,ra,dec\n1,10,r,100,10.5,-0.25\n1,10,r,101,10.5,-0.25\n2,20,g,100,,\n")
    visits = {info.visit: info for info in TableInventory(table).visits()}
    assert (visits[1].ra, visits[1].dec, visits[1].tracts) == (10.5, -0.25, (100, 101))
    assert (visits[2].ra, visits[2].dec) == (None, None)
    table.write_text("visit,exposure,band,tract,ra,dec\n1,10,r,100,east,0\n")
    with pytest.raises(InventoryError, match="visits.csv:2"):
        TableInventory(table)


@pytest.mark.slow
def test_it_reads_visit_centres_from_a_butler_repository(tmp_path):
    from planning.inventory import ButlerInventory
    from stack.repo import create_repo, insert_skymap, insert_survey_records
    from stack.survey import make_survey

    survey = make_survey(tracts=(9469, 9470), visits_per_tract=1)
    butler = create_repo(tmp_path / "repo")
    insert_skymap(butler, survey)
    insert_survey_records(butler, survey)
    visits = ButlerInventory(tmp_path / "repo", survey.instrument, survey.skymap.name).visits()
    assert visits
    for info in visits:
        ra, dec = survey.visit_centre(info.visit)
        assert (info.ra, info.dec) == pytest.approx((ra, dec))
