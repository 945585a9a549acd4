"""The mock of the real LSSTCam DRP (``mock:lsstcam-drp``) and planning from saved pipeline graphs."""

from __future__ import annotations

import io

import pytest

from planning.dataflow import (
    MOCK_LSSTCAM_DRP_PIPELINE,
    DataflowError,
    export_pipeline_graph,
    load_dataflow,
    resolve_pipeline_uri,
)

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
    from lsst.pipe.base.tests.mocks import DynamicTestPipelineTask

    assert all(issubclass(task.task_class, DynamicTestPipelineTask) for task in graph.tasks.values())
    bounded = {label: task.get_connections().getSpatialBoundsConnections() for label, task in graph.tasks.items()
               if task.task_class_name != "lsst.pipe.base.tests.mocks.DynamicTestPipelineTask"}
    assert bounded == {"gbdesHealpix3AstrometricFit": ("inputVisitSummaries",)}  # drp_tasks' spatial bounds
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


def test_it_plans_from_a_saved_graph_whose_task_modules_do_not_exist(lsstcam_graph_file, lsstcam_dataflow):
    import importlib.util

    assert importlib.util.find_spec("msproc_absent_stack") is None
    from_yaml = load_dataflow(resolve_pipeline_uri("mock:lsstcam-drp"))
    assert lsstcam_dataflow.has_step_definitions
    assert list(lsstcam_dataflow.steps) == list(LSSTCAM_STEPS)
    for label, step in from_yaml.steps.items():
        saved = lsstcam_dataflow.steps[label]
        assert (saved.tasks, saved.inputs, saved.outputs, saved.sharding) == (
            step.tasks, step.inputs, step.outputs, step.sharding
        ), label
    assert lsstcam_dataflow.steps["step2c-recalibrate-healpix"].healpix_level() == 3
    assert lsstcam_dataflow.steps["step2a-recalibrate-global"].sharding == ()


def test_it_reports_a_saved_graph_that_cannot_be_read(tmp_path):
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(DataflowError, match="cannot load pipeline"):
        load_dataflow(str(broken))


def test_it_refuses_to_export_a_graph_to_a_file_that_is_not_json_gz(tmp_path):
    with pytest.raises(DataflowError, match="must end in .json.gz"):
        export_pipeline_graph(resolve_pipeline_uri("mock:drp"), tmp_path / "graph.yaml")


def test_it_rejects_an_unknown_shipped_pipeline():
    with pytest.raises(DataflowError, match="unknown shipped pipeline 'mock:nope'"):
        resolve_pipeline_uri("mock:nope")


@pytest.mark.django_db
def test_it_exports_a_pipeline_graph_from_the_command_line(tmp_path):
    from django.core.management import call_command

    out = io.StringIO()
    call_command("export_pipeline_graph", "mock:drp", str(tmp_path / "drp.json.gz"), stdout=out)
    assert "wrote" in out.getvalue()
    saved = load_dataflow(str(tmp_path / "drp.json.gz"))
    assert list(saved.steps) == list(load_dataflow(resolve_pipeline_uri("mock:drp")).steps)


def test_it_fails_the_export_command_cleanly_on_a_bad_output(tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="must end in .json.gz"):
        call_command("export_pipeline_graph", "mock:drp", str(tmp_path / "drp.txt"))
