"""Render the BPS submit YAML of one planned group."""

from __future__ import annotations

import dataclasses

import yaml

from .collection_names import group_collection
from .planner import Plan, PlannedGroup, PlannedStep

__all__ = ["SiteInfo", "render_submit_yaml"]

@dataclasses.dataclass(frozen=True)
class SiteInfo:
    """What BPS needs to know about a site (filled from the Site table by the caller)."""

    code: str
    compute_site: str
    compute_cloud: str
    butler_config: str


def render_submit_yaml(
    plan: Plan,
    step: PlannedStep,
    group: PlannedGroup,
    site: SiteInfo,
    *,
    pipeline_yaml: str,
    project: str = "msproc",
    in_collections: list[str] | None = None,
    final_job: str | None = None,
    output_run: str | None = None,
    queue: str = "",
    merge_queue: str = "",
) -> str:
    """Return the BPS submit YAML (a string) for one group of a plan.

    The output collection is ``{output_prefix}/{segment}/group{ordinal}`` (``collection_names.py``) and
    its RUN ``output_run`` (default ``.../run``; msproc passes the attempt's own run collection, the one its
    pages show); ``inCollection`` defaults to ``{output_prefix}/input``.
    ``final_job`` is run after the standard aggregation (BPS ``finalJob.command2``). ``queue`` and
    ``merge_queue`` are the site's PanDA queues for the step's memory and for the final job
    (``sites.queues``; left out when empty).
    ``pipeline_yaml`` should already select the step (``file.yaml#step1``);
    if it has no ``#`` the step label is appended.

    Raises:
        ValueError: the group does not run at ``site``.
    """
    if group.site != site.code:
        raise ValueError(f"group {group.ordinal} of {step.name} runs at {group.site}, not {site.code}")
    output = group_collection(plan.output_prefix, step.name, group.ordinal)
    pipeline = pipeline_yaml if "#" in pipeline_yaml else f"{pipeline_yaml}#{step.name}"
    document = {
        "pipelineYaml": pipeline,
        "project": project,
        "campaign": plan.name,
        "payload": {
            "payloadName": f"{plan.name}_{step.name}_group{group.ordinal}",
            "butlerConfig": site.butler_config,
            "inCollection": ",".join(in_collections or [f"{plan.output_prefix}/input"]),
            "dataQuery": group.data_query,
            "output": output,
            "outputRun": output_run or f"{output}/run",
        },
        "computeSite": site.compute_site,
        "computeCloud": site.compute_cloud,
        "requestMemory": step.memory_mb,
        **({"queue": queue} if queue else {}),
        "finalJob": {
            "retryUnlessExit": 2,
            "updateOutputChain": "--update-output-chain",
            "whenSetup": "NEVER",
            "whenRun": "ALWAYS",
            **({"queue": merge_queue} if merge_queue else {}),
            **({"command2": final_job} if final_job else {}),
        },
    }
    # libyaml when present: the same text, 6x faster (one render per submitted job; docs/benchmarks.md)
    return yaml.dump(document, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False,
                     default_flow_style=False)
