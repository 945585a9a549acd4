"""The mock of the real LSSTCam DRP (``mock:lsstcam-drp``) builds a valid pipeline graph."""

from __future__ import annotations

import pytest

from msproc.lib.planning.dataflow import MOCK_LSSTCAM_DRP_PIPELINE, resolve_pipeline_uri

LSSTCAM_STEPS = {
    "step1a-single-visit-detectors": {"visit", "detector"},
    "step1b-single-visit-visits": {"visit"},
    "step1c-single-visit-tracts": {"tract"},
    "step1d-single-visit-global": set(),
    "step2a-recalibrate-global": set(),
    "step2b-recalibrate-tracts": {"tract"},
    "step2c-recalibrate-healpix": {"healpix3"},
    "step2d-recalibrate-visits": {"visit"},
    "step2e-recalibrate-tracts": {"tract"},
    "step2f-recalibrate-global": set(),
    "step3a-coadd-tracts": {"tract"},
    "step3b-coadd-global": set(),
    "step3c-coadd-gray-images": set(),
    "step3d-coadd-hips": set(),
    "step4a-measure-variability-visits": {"visit"},
    "step4b-generate-ephemerides-global": set(),
    "step4c-measure-variability-tracts": {"tract"},
    "step4d-measure-variability-global": set(),
    "step4e-measure-variability-rgb": set(),
    "step4f-make-hips-from-rgb": set(),
}


@pytest.fixture(scope="module")
def graph():
    from lsst.daf.butler import DimensionUniverse
    from lsst.pipe.base import Pipeline

    graph = Pipeline.from_uri(resolve_pipeline_uri("mock:lsstcam-drp")).to_graph()
    graph.resolve(dimensions=DimensionUniverse())
    return graph


def test_it_resolves_mock_lsstcam_drp_to_the_shipped_yaml():
    assert resolve_pipeline_uri("mock:lsstcam-drp") == str(MOCK_LSSTCAM_DRP_PIPELINE)


def test_it_has_the_twenty_real_steps_with_their_sharding_dimensions(graph):
    assert list(graph.steps) == list(LSSTCAM_STEPS)
    for label, dimensions in LSSTCAM_STEPS.items():
        assert set(graph.steps.get_dimensions(label).required) - {"instrument", "skymap"} == dimensions, label
    assert graph.steps.verified


def test_it_uses_mock_tasks_with_the_real_labels(graph):
    assert {task.task_class_name for task in graph.tasks.values()} == {
        "lsst.pipe.base.tests.mocks.DynamicTestPipelineTask"
    }
    assert graph.task_subsets["step2c-recalibrate-healpix"] == {"gbdesHealpix3AstrometricFit"}
    assert graph.task_subsets["step2a-recalibrate-global"] == {
        "fgcmBuildFromIsolatedStar", "fgcmFitCycle", "fgcmOutputProducts"
    }
    assert not graph.task_subsets["step2b-recalibrate-tracts"]  # excluded for LSSTCam


@pytest.mark.parametrize(
    ("dataset_type", "dimensions"),
    [
        ("isolated_star", {"instrument", "skymap", "tract"}),
        ("isolated_star_association", {"instrument", "skymap", "tract"}),
        ("preliminary_visit_summary", {"instrument", "visit"}),
        ("fgcmPhotoCalibCatalog", {"instrument", "visit"}),
        ("fgcm_standard_star", {"instrument", "skymap", "tract"}),
        ("gbdesHealpix3AstrometricFitSkyWcsCatalog", {"instrument", "visit", "healpix3"}),
        ("gbdesHealpix3AstrometricFit_fitStars", {"instrument", "physical_filter", "healpix3"}),
        ("visit_summary", {"instrument", "visit"}),
        ("deepCoadd_psf_maglim_map_weighted_mean", {"skymap", "tract", "band"}),
        ("preloaded_ss_object_visit", {"instrument", "visit"}),
    ],
)
def test_it_declares_the_real_dataset_types_that_cross_steps(graph, dataset_type, dimensions):
    assert set(graph.dataset_types[dataset_type].dimensions.required) == dimensions


def test_it_applies_the_lsstcam_config_to_update_visit_summary(graph):
    inputs = {edge.parent_dataset_type_name for edge in graph.tasks["updateVisitSummary"].inputs.values()}
    # wcs_provider healpix3 with the turbulence-corrected WCS; photo_calib_provider global; no backgrounds
    assert "turbulenceCorrectedSkyWcsCatalog" in inputs
    assert "fgcmPhotoCalibCatalog" in inputs
    assert "preliminary_visit_image_background" not in inputs
    assert not any("SkyWcsCatalog" in name and "turbulence" not in name for name in inputs)
