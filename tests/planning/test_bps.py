"""BPS submit YAML per group."""

from __future__ import annotations

import pytest
import yaml

from planning.bps import SiteInfo, render_submit_yaml

from .test_planner import plan_2x4  # noqa: F401  (module fixture)

IN2P3 = SiteInfo("IN2P3", "CC-IN2P3", "EU", "/sps/lsst/butler/dp2")


def test_it_renders_a_group_for_its_site(plan_2x4):  # noqa: F811
    step = plan_2x4.step("step2d")
    group = next(g for g in step.groups if g.site == "IN2P3")
    text = render_submit_yaml(plan_2x4, step, group, IN2P3, pipeline_yaml="/pipelines/drp_mock.yaml",
                              queue="CC-IN2P3_Rubin_8G", merge_queue="CC-IN2P3_Rubin_Merge")
    document = yaml.safe_load(text)
    assert document["pipelineYaml"] == "/pipelines/drp_mock.yaml#step2d"
    assert document["campaign"] == "mock-2x4"
    assert document["computeSite"] == "CC-IN2P3" and document["computeCloud"] == "EU"
    assert document["requestMemory"] == 5000 and document["queue"] == "CC-IN2P3_Rubin_8G"
    payload = document["payload"]
    assert payload["butlerConfig"] == "/sps/lsst/butler/dp2"
    assert payload["dataQuery"] == group.data_query
    assert payload["output"] == f"u/msproc/mock-2x4/step2d/group{group.ordinal}"
    assert payload["outputRun"] == payload["output"] + "/run"
    assert document["finalJob"]["queue"] == "CC-IN2P3_Rubin_Merge"
    bare = yaml.safe_load(render_submit_yaml(plan_2x4, step, group, IN2P3, pipeline_yaml="x.yaml"))
    assert "queue" not in bare and "queue" not in bare["finalJob"]  # no queue given: BPS's own default
    slac_group = next(g for g in step.groups if g.site == "SLAC")
    with pytest.raises(ValueError, match="runs at SLAC"):
        render_submit_yaml(plan_2x4, step, slac_group, IN2P3, pipeline_yaml="x.yaml")
