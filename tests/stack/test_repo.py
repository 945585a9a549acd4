from __future__ import annotations

from pathlib import Path

import pytest

from stack.defaults import INPUT_COLLECTIONS, refcat_pixels
from stack.repo import (
    create_repo,
    insert_skymap,
    insert_survey_records,
    open_repo,
    record_counts,
    remove_repo,
    repo_contents,
)


def test_it_creates_a_repo_with_survey_subset_records(survey, tmp_path: Path):
    butler = create_repo(tmp_path / "repo")
    insert_skymap(butler, survey)
    assert insert_survey_records(butler, survey, visits=[1, 17]) == [1, 17]
    counts = record_counts(butler)
    assert counts == {"exposure": 2, "visit": 2, "visit_detector_region": 4, "tract": 8, "patch": 32}
    # more visits later, existing ones skipped
    insert_survey_records(butler, survey, visits=[1, 2])
    assert record_counts(butler, ["visit"]) == {"visit": 3}
    bands = {r.band for r in butler.registry.queryDimensionRecords("physical_filter")}
    assert bands == {"g", "r", "i"}
    assert repo_contents(butler) == {}


def test_it_refuses_to_overwrite_and_removes_repos(tmp_path: Path):
    root = tmp_path / "repo"
    create_repo(root)
    with pytest.raises(FileExistsError):
        create_repo(root)
    assert create_repo(root, exist_ok=True) is not None
    assert remove_repo(root, tmp_path)
    assert not root.exists()
    assert not remove_repo(root, tmp_path)
    with pytest.raises(FileNotFoundError):
        open_repo(root)


def test_it_rejects_unknown_visits(survey, tmp_path: Path):
    butler = create_repo(tmp_path / "repo")
    with pytest.raises(KeyError):
        insert_survey_records(butler, survey, visits=[999])


def test_registry_spatial_overlaps_agree_with_the_survey(hub_root, survey):
    butler = open_repo(hub_root, writeable=False)
    pairs = {
        (data_id["visit"], data_id["tract"])
        for data_id in butler.registry.queryDataIds(
            ["visit", "tract"], where="instrument = 'MockCam' AND skymap = 'mock_skymap'"
        )
    }
    expected = {(visit, tract) for visit, tracts in survey.visit_tracts.items() for tract in tracts}
    assert pairs == expected


def test_hub_holds_defaults_and_raws(hub_root, survey):
    butler = open_repo(hub_root, writeable=False)
    contents = repo_contents(butler, INPUT_COLLECTIONS)
    assert contents["raw"] == len(survey.visits) * len(survey.detectors)
    assert contents["bias"] == 2
    assert contents["flat"] == 6
    assert contents["fgcm_lookup_table"] == 1
    assert contents["refcat"] == len(refcat_pixels(survey))
