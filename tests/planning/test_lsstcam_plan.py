"""The lsstcam-2x4 plan moves what the LSSTCam DRP needs, by real dataset type name (issue 15's list)."""

from __future__ import annotations

import io

import pytest

from campaigns.services import survey_inventory
from planning.cli import explain_movements
from planning.planner import plan_campaign
from planning.spec import load_spec

from .conftest import TEMPLATES

PROPERTY_MAPS = {
    "deepCoadd_exposure_time_map_sum", "deepCoadd_psf_size_map_weighted_mean", "deepCoadd_psf_e1_map_weighted_mean",
    "deepCoadd_psf_e2_map_weighted_mean", "deepCoadd_psf_maglim_map_weighted_mean",
    "deepCoadd_sky_noise_map_weighted_mean", "deepCoadd_sky_background_map_weighted_mean",
    "deepCoadd_dcr_dra_map_weighted_mean", "deepCoadd_dcr_ddec_map_weighted_mean",
    "deepCoadd_dcr_e1_map_weighted_mean", "deepCoadd_dcr_e2_map_weighted_mean", "deepCoadd_epoch_map_mean",
}  # fmt: skip
SITES = ("IN2P3", "LANCS", "RAL")


@pytest.fixture(scope="module")
def plan(lsstcam_yaml_dataflow):
    spec, _ = load_spec((TEMPLATES / "lsstcam-2x4.yaml").read_text(), dataflow=lsstcam_yaml_dataflow)
    return plan_campaign(spec, survey_inventory(), lsstcam_yaml_dataflow)


def _moved(plan, kind: str, before: str | None, destination: str | None = None) -> dict[str, set[str]]:
    """Return destination -> dataset types moved by ``kind`` movements before ``before``."""
    result: dict[str, set[str]] = {}
    for movement in plan.movements:
        if movement.kind == kind and movement.before_step == before:
            if destination is None or movement.destination == destination:
                result.setdefault(movement.destination, set()).update(movement.dataset_types)
    return result


def test_it_sets_up_every_site_before_step1a(plan):
    setup = _moved(plan, "setup", "step1a-single-visit-detectors")
    assert set(setup) == set(SITES)
    for types in setup.values():
        assert {"raw", "camera", "bias", "dark", "flat", "the_monster_20250219"} <= types
    assert not {"mpcorb", "de440s"} & set().union(*setup.values())  # ephemerides stay at the hub


def test_it_brings_the_isolated_stars_and_preliminary_visit_summaries_to_the_hub_before_the_global_steps(plan):
    assert _moved(plan, "fan_in", "step1d-single-visit-global") == {"SLAC": {"preliminary_visit_summary"}}
    assert _moved(plan, "fan_in", "step2a-recalibrate-global") == {
        "SLAC": {"isolated_star", "isolated_star_association"}
    }
    sources = {m.sources[0] for m in plan.movements if m.before_step == "step2a-recalibrate-global"}
    assert sources == set(SITES)


def test_it_sends_fgcm_and_gbdes_outputs_out_to_the_sites_before_step2d(plan):
    step2d = "step2d-recalibrate-visits"
    fan_out = _moved(plan, "fan_out", step2d)
    assert set(fan_out) == set(SITES)
    assert all(types == {"fgcmPhotoCalibCatalog", "fgcm_standard_star"} for types in fan_out.values())
    gbdes = {"gbdesHealpix3AstrometricFitSkyWcsCatalog", "gbdesHealpix3AstrometricFit_fitStars"}
    exchanged = _moved(plan, "exchange", step2d)
    assert exchanged and all(types == gbdes for types in exchanged.values())
    assert any("healpix3" in m.data_ids for m in plan.movements if set(m.dataset_types) == gbdes)


def test_it_returns_visit_summaries_to_the_hub_before_step2f(plan):
    assert _moved(plan, "fan_in", "step2f-recalibrate-global") == {"SLAC": {"visit_summary"}}


def test_it_brings_the_twelve_property_maps_to_the_hub_before_step3b(plan):
    moved = _moved(plan, "fan_in", "step3b-coadd-global")
    assert moved["SLAC"] >= PROPERTY_MAPS
    assert len(PROPERTY_MAPS) == 12
    assert moved["SLAC"] - PROPERTY_MAPS == {"deep_coadd_input_summary_tract", "template_coadd_input_summary_tract"}


def test_it_fans_preloaded_ss_objects_out_before_step4c(plan):
    fan_out = _moved(plan, "fan_out", "step4c-measure-variability-tracts")
    assert set(fan_out) == set(SITES)
    assert all(types == {"preloaded_ss_object_visit"} for types in fan_out.values())


def test_it_returns_and_archives_the_final_outputs(plan):
    returns = _moved(plan, "return", None)
    assert set(returns) == {"SLAC"}
    # visit_summary reaches the hub by the fan-in before the global step2f: it is not moved a second time.
    assert returns["SLAC"] == {"object", "source", "dia_source", "dia_object"}
    assert "visit_summary" in _moved(plan, "fan_in", "step2f-recalibrate-global")["SLAC"]
    (archive,) = [m for m in plan.movements if m.kind == "archive"]
    assert archive.dataset_types == ["dia_object", "dia_source", "object", "source"]
    assert len(archive.after_movements) == len(SITES)


def test_it_explains_the_movements_by_real_dataset_type_name(plan):
    text = explain_movements(plan)
    assert "before step2a-recalibrate-global:" in text
    assert "[fan_in] IN2P3 -> SLAC: isolated_star, isolated_star_association (tract: [9948, 9949])" in text
    assert "[fan_out] SLAC -> LANCS: preloaded_ss_object_visit" in text
    assert "after the last steps (returns and archive):" in text


@pytest.mark.django_db
def test_it_explains_a_plan_from_the_command_line():
    from django.core.management import call_command

    from sites.services import load_sites

    load_sites()
    out = io.StringIO()
    call_command("plan_campaign", str(TEMPLATES / "lsstcam-2x2.yaml"), "--explain", stdout=out)
    assert "before step2d-recalibrate-visits:" in out.getvalue()
    assert "fgcmPhotoCalibCatalog, fgcm_standard_star" in out.getvalue()
