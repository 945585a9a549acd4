"""A campaign's step structure read from the pipeline: dependencies from the dataflow.

A step depends on the campaign steps that produce what it reads: for each
dataset type a step reads, the last step before it (in stage order) that
writes it. A spec's ``depends_on`` only adds to these. Sharding comes from
the pipeline's ``steps:`` section (:meth:`StepDataflow.level_from_sharding
<planning.dataflow.StepDataflow.level_from_sharding>`), and the
step order is validated by lsst-pipe-base
(:func:`planning.spec.step_order_errors`).
"""

from __future__ import annotations

from .dataflow import PipelineDataflow
from .spec import CampaignSpec

__all__ = ["step_dependencies"]


def step_dependencies(spec: CampaignSpec, dataflow: PipelineDataflow) -> dict[str, list[str]]:
    """Return step name -> the steps it waits for, in campaign order.

    The dataflow's producers of its inputs plus the spec's ``depends_on``.
    Every step of ``spec`` must be a step of ``dataflow``.
    """
    order = {step.name: index for index, step in enumerate(spec.steps)}
    last_producer: dict[str, str] = {}
    result: dict[str, list[str]] = {}
    for step in spec.steps:
        flow = dataflow.steps[step.name]
        needed = {last_producer[name] for name in flow.inputs if name in last_producer}
        needed.update(name for name in step.depends_on if name in order)
        needed.discard(step.name)
        result[step.name] = sorted(needed, key=order.__getitem__)
        for name in flow.outputs:
            last_producer[name] = step.name
    return result
