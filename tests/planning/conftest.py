"""Fixtures for the planner tests: the DRP-shaped test pipeline and the 2x4 inventory."""

from __future__ import annotations

from pathlib import Path

import pytest

from msproc.lib.planning.dataflow import PipelineDataflow, load_dataflow
from msproc.lib.planning.inventory import TableInventory

DATA = Path(__file__).parent / "data"
TEMPLATES = Path(__file__).resolve().parents[2] / "msproc" / "lib" / "planning" / "templates"
SITES = ("SLAC", "IN2P3", "LANCS", "RAL")
SHARES = {"SLAC": 0.35, "IN2P3": 0.40, "LANCS": 0.10, "RAL": 0.15}


@pytest.fixture(scope="session")
def dataflow() -> PipelineDataflow:
    return load_dataflow(str(DATA / "drp_test.yaml"))


@pytest.fixture(scope="session")
def inventory() -> TableInventory:
    return TableInventory(DATA / "inventory_2x4.csv")
