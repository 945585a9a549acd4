"""A regional (healpix) group is persisted with its pixel and submitted with a data-ID table of its quanta."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.services import create_campaign_from_spec
from campaigns.submission import SubmitContext, new_job, submission_for
from sites.services import load_sites

TEMPLATES = Path(__file__).resolve().parent.parent / "planning" / "templates"


@pytest.fixture
def campaign(db):
    load_sites()
    return create_campaign_from_spec("regional", (TEMPLATES / "lsstcam-2x2.yaml").read_text())


def _submission(group):
    group.attempts = 1
    job = new_job(group, rescue=False)
    job.save()
    return submission_for(job, SubmitContext())


def test_a_healpix_group_keeps_its_pixel_and_submits_pixel_times_visits_times_tracts(campaign):
    groups = list(campaign.groups.filter(step__name="step2c-recalibrate-healpix").select_related("step", "site"))
    assert groups and all(set(group.data_ids) == {"healpix3", "visit", "tract"} for group in groups)
    pixels = [group.data_ids["healpix3"] for group in groups]
    assert all(len(pixel) == 1 for pixel in pixels) and len({pixel[0] for pixel in pixels}) == len(groups)
    for group in groups:
        submission = _submission(group)
        assert submission.data_query == "instrument='MockCam'"  # no healpix3 term: the table carries it
        assert submission.data_id_table == {
            "healpix3": group.data_ids["healpix3"], "instrument": ["MockCam"], "visit": group.data_ids["visit"],
            "skymap": ["mock_skymap"], "tract": group.data_ids["tract"]}


def test_other_groups_are_submitted_without_a_table(campaign):
    for step in ("step1a-single-visit-detectors", "step1c-single-visit-tracts", "step2a-recalibrate-global"):
        group = campaign.groups.filter(step__name=step).select_related("step", "site").first()
        assert _submission(group).data_id_table == {}, step


def test_steps_reading_sky_pixel_keyed_inputs_are_built_without_the_dataset_constraint(campaign):
    # step2d reads the healpix3 fit's per-(visit, healpix3) WCS catalogs: with them as a query constraint
    # daf_butler would have to join healpix3 to visits and tracts in one query, which it cannot
    constraints = dict(campaign.steps.values_list("name", "query_constraint"))
    assert constraints["step2d-recalibrate-visits"] == "off"
    assert {name for name, value in constraints.items() if value} == {"step2d-recalibrate-visits"}
    group = campaign.groups.filter(step__name="step2d-recalibrate-visits").select_related("step", "site").first()
    assert _submission(group).dataset_query_constraint == "off"
    group = campaign.groups.filter(step__name="step1a-single-visit-detectors").select_related("step", "site").first()
    assert _submission(group).dataset_query_constraint == ""
