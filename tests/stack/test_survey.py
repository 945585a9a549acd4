from __future__ import annotations

from pathlib import Path

import pytest

from stack.survey import DEFAULT_TRACTS, make_survey, read_inventory, write_inventory


def test_it_makes_two_visits_per_tract_plus_boundary_visits(survey):
    assert survey.tracts == DEFAULT_TRACTS
    assert len(survey.visits) == 2 * len(DEFAULT_TRACTS) + 2
    assert survey.detectors == (0, 1)
    for tract in DEFAULT_TRACTS:
        assert len(survey.tract_visits(tract)) >= 2


def test_boundary_visits_overlap_two_neighbouring_tracts(survey):
    assert survey.boundary_visits == (17, 18)
    assert survey.visit_tracts[17] == [9470, 9941]
    assert survey.visit_tracts[18] == [9942, 9948]
    # each half of the focal plane sits in one tract
    per_detector = survey.detector_visit_tracts
    assert per_detector[17, 0] == [9470]
    assert per_detector[17, 1] == [9941]


def test_regular_visits_overlap_only_their_tract_and_all_its_patches(survey):
    for visit in survey.visits:
        if visit in survey.boundary_visits:
            continue
        home = survey.home_tract[visit]
        assert survey.visit_tracts[visit] == [home]
        assert survey.visit_patches[visit] == {home: [0, 1, 2, 3]}


def test_it_is_deterministic_for_a_seed():
    first, second = make_survey(seed=7), make_survey(seed=7)
    assert first.visit_band == second.visit_band
    assert first.visit_regions[3].encode() == second.visit_regions[3].encode()
    assert make_survey(seed=8).visit_regions[3].encode() != first.visit_regions[3].encode()


def test_it_takes_custom_tracts_and_boundary_pairs():
    survey = make_survey([1, 2, 3], visits_per_tract=1, boundary_pairs=[(2, 3)], n_detectors=4)
    assert survey.visits == (1, 2, 3, 4)
    assert survey.visit_tracts[4] == [2, 3]
    assert survey.skymap.hash == make_survey([1, 2, 3]).skymap.hash


def test_it_rejects_non_neighbouring_boundary_pairs():
    with pytest.raises(ValueError, match="neighbouring"):
        make_survey([1, 2, 3], boundary_pairs=[(1, 3)])


def test_inventory_round_trips_through_csv(survey, tmp_path: Path):
    path = write_inventory(survey, tmp_path / "inventory.csv")
    rows = read_inventory(path)
    assert rows == survey.inventory()
    assert path.read_text().splitlines()[0] == "visit,exposure,band,tract"
    # boundary visits appear once per tract
    assert [r.tract for r in rows if r.visit == 17] == [9470, 9941]


def test_inventory_rejects_a_wrong_header(tmp_path: Path):
    path = tmp_path / "bad.csv"
    path.write_text("visit,band\n1,g\n")
    with pytest.raises(ValueError, match="expected columns"):
        read_inventory(path)
