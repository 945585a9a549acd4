"""Fixtures for the planner tests: the DRP-shaped test pipeline and the 2x4 inventory."""

from __future__ import annotations

from pathlib import Path

import pytest

from planning.dataflow import PipelineDataflow, load_dataflow
from planning.inventory import TableInventory

DATA = Path(__file__).parent / "data"
TEMPLATES = Path(__file__).resolve().parents[2] / "planning" / "templates"
SITES = ("SLAC", "IN2P3", "LANCS", "RAL")
SHARES = {"SLAC": 0.35, "IN2P3": 0.40, "LANCS": 0.10, "RAL": 0.15}


@pytest.fixture(scope="session")
def dataflow() -> PipelineDataflow:
    return load_dataflow(str(DATA / "drp_test.yaml"))


@pytest.fixture(scope="session")
def inventory() -> TableInventory:
    return TableInventory(DATA / "inventory_2x4.csv")


@pytest.fixture(scope="session")
def lsstcam_graph_file(tmp_path_factory) -> Path:
    """A saved graph of mock:lsstcam-drp whose task classes live in modules that do not exist.

    Planning must read it without importing any task (as a deployment without the
    LSST task packages would).
    """
    import gzip
    import json

    from planning.dataflow import export_pipeline_graph, resolve_pipeline_uri

    exported = export_pipeline_graph(
        resolve_pipeline_uri("mock:lsstcam-drp"), tmp_path_factory.mktemp("graph") / "exported.json.gz"
    )
    document = json.loads(gzip.decompress(exported.read_bytes()))
    for label, task in document["tasks"].items():
        task["task_class"] = f"msproc_absent_stack.drp.{label[0].upper()}{label[1:]}Task"
        task["config_str"] = (task["config_str"].replace("lsst.pipe.base.tests.mocks", "msproc_absent_stack.mocks")
                              .replace("stack.mock_tasks", "msproc_absent_stack.mock_tasks"))
    renamed = exported.with_name("lsstcam-drp-renamed.json.gz")
    renamed.write_bytes(gzip.compress(json.dumps(document).encode()))
    return renamed


@pytest.fixture(scope="session")
def lsstcam_dataflow(lsstcam_graph_file: Path) -> PipelineDataflow:
    return load_dataflow(str(lsstcam_graph_file))


@pytest.fixture(scope="session")
def lsstcam_yaml_dataflow() -> PipelineDataflow:
    from planning.dataflow import resolve_pipeline_uri

    return load_dataflow(resolve_pipeline_uri("mock:lsstcam-drp"))
