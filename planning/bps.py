"""Render the BPS submit YAML of one planned group."""

from __future__ import annotations

import dataclasses

import yaml

from .collection_names import group_collection
from .planner import Plan, PlannedGroup, PlannedStep

__all__ = ["MEMORY_TIERS_GB", "SiteInfo", "memory_tier", "queue_for", "render_submit_yaml"]

#: PanDA memory tiers (GB) of the ``{prefix}_Rubin_{N}G`` queues.
MEMORY_TIERS_GB = (4, 8, 12, 16, 20, 24, 28, 32)


@dataclasses.dataclass(frozen=True)
class SiteInfo:
    """What BPS needs to know about a site (filled from the Site table by the caller)."""

    code: str
    compute_site: str
    compute_cloud: str
    queue_prefix: str
    butler_config: str


def memory_tier(memory_mb: int) -> int | None:
    """Return the smallest memory tier in GB that holds ``memory_mb`` (5000 -> 8), None above 32 GB.

    Raises:
        ValueError: ``memory_mb`` is not positive.
    """
    if memory_mb <= 0:
        raise ValueError(f"memory_mb must be > 0, got {memory_mb}")
    for tier in MEMORY_TIERS_GB:
        if memory_mb <= tier * 1024:
            return tier
    return None


def queue_for(site: SiteInfo, memory_mb: int) -> str:
    """Return the PanDA queue of ``site`` for jobs needing ``memory_mb``.

    ``{prefix}_Rubin_{N}G`` for the smallest tier that fits, else
    ``{prefix}_Rubin_Extra_Himem``.
    """
    tier = memory_tier(memory_mb)
    return f"{site.queue_prefix}_Rubin_Extra_Himem" if tier is None else f"{site.queue_prefix}_Rubin_{tier}G"


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
) -> str:
    """Return the BPS submit YAML (a string) for one group of a plan.

    The output collection is ``{output_prefix}/{segment}/group{ordinal}`` (``collection_names.py``) and
    its RUN ``output_run`` (default ``.../run``; msproc passes the attempt's own run collection, the one its
    pages show); ``inCollection`` defaults to ``{output_prefix}/input``.
    ``final_job`` is run after the standard aggregation (BPS ``finalJob.command2``).
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
        "queue": queue_for(site, step.memory_mb),
        "finalJob": {
            "retryUnlessExit": 2,
            "updateOutputChain": "--update-output-chain",
            "whenSetup": "NEVER",
            "whenRun": "ALWAYS",
            "queue": f"{site.queue_prefix}_Rubin_Merge",
            **({"command2": final_job} if final_job else {}),
        },
    }
    # libyaml when present: the same text, 6x faster (one render per submitted job; docs/benchmarks.md)
    return yaml.dump(document, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False,
                     default_flow_style=False)
