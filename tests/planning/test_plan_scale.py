"""Planning grows in proportion to its input, on an inventory over Rubin's real LSST sky map.

The figures at data-release scale are bench/plan_scale.py's (docs/benchmarks.md); this pins the shape:
planning CPU time for ten times the visits (and visit-tract overlaps) stays within a generous bound of ten
times the time, where the quadratic planner of before took ~70 times.
"""

from __future__ import annotations

import time

import pytest
import yaml

from planning.dataflow import MOCK_DRP_PIPELINE, load_dataflow
from planning.inventory import InventoryArrays
from planning.planner import plan_campaign
from planning.skymap_survey import load_lsst_skymap, make_survey
from planning.spec import load_spec

from .conftest import SITES, TEMPLATES

SHARES = {"SLAC": 0.35, "IN2P3": 0.40, "LANCS": 0.10, "RAL": 0.15}


class _Inventory:
    def __init__(self, arrays: InventoryArrays) -> None:
        self._arrays = arrays

    def arrays(self) -> InventoryArrays:
        return self._arrays

    def visits(self):
        return self._arrays.visit_infos()

    def tracts(self):
        return self._arrays.tracts().tolist()


@pytest.fixture(scope="module")
def setup():
    document = yaml.safe_load((TEMPLATES / "2x4.yaml").read_text())
    document.pop("tract_map")
    document["sites"] = [{"code": code, "share": share} for code, share in SHARES.items()]
    document["instrument"], document["skymap"] = "LSSTCam", "lsst_cells_v1"
    dataflow = load_dataflow(str(MOCK_DRP_PIPELINE))
    spec, dataflow = load_spec(yaml.safe_dump(document), known_sites=SITES, dataflow=dataflow)
    return spec, dataflow, load_lsst_skymap()


def _cpu_seconds(spec, dataflow, inventory) -> tuple[float, int]:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        plan = plan_campaign(spec, inventory, dataflow)
        best = min(best, time.process_time() - start)
    return best, sum(len(step.groups) for step in plan.steps)


def test_planning_time_grows_in_proportion_to_the_visits_on_the_real_sky_map(setup):
    spec, dataflow, skymap = setup
    small = _Inventory(make_survey(skymap, 0.002))
    large = _Inventory(make_survey(skymap, 0.02))
    size = large.arrays().tract_ids.size / small.arrays().tract_ids.size

    small_cpu, small_groups = _cpu_seconds(spec, dataflow, small)
    large_cpu, large_groups = _cpu_seconds(spec, dataflow, large)

    assert size > 5 and large_groups > 2 * small_groups
    assert large_cpu <= 3 * size * max(small_cpu, 0.01), (size, small_cpu, large_cpu)


def test_the_compact_assignment_gives_each_site_its_share_of_the_real_tracts(setup):
    spec, dataflow, skymap = setup
    inventory = _Inventory(make_survey(skymap, 0.05))

    plan = plan_campaign(spec, inventory, dataflow)

    tracts = {site.code: len(site.tracts) for site in plan.sites}
    total = sum(tracts.values())
    for code, share in SHARES.items():
        assert abs(tracts[code] - share * total) <= 1, (code, tracts)


def test_planning_pauses_the_cyclic_collector_and_restores_it_even_on_an_error():
    import gc

    from planning.planner import no_cyclic_gc

    with no_cyclic_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), no_cyclic_gc():
        raise RuntimeError("a planning error")
    assert gc.isenabled()
    gc.disable()
    try:
        with no_cyclic_gc():
            pass
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()
