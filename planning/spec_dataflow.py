"""A parsed spec against its pipeline: step levels, splits, sharding and step order.

:func:`step_level` is the planner's rule for what one group of a step covers (``global``, ``tract``,
``visit`` or ``healpix``); the other functions return :class:`~.spec_types.FieldError` lists.
"""

from __future__ import annotations

from .dataflow import (
    PipelineDataflow,
    check_step_order,
)
from .spec_types import VISIT_SPLIT_KINDS, CampaignSpec, FieldError, StageSpec, StepSpec


def step_level(step: StepSpec, dataflow: PipelineDataflow) -> str:
    """Return what one group of ``step`` covers: ``global``, ``healpix``, ``tract`` or ``visit``.

    A step with ``scope: global`` is ``global``. Otherwise the pipeline's
    ``steps:`` section decides when it has one (no sharding dimension:
    ``global``; ``healpixN``: ``healpix``, one group per sky pixel; ``tract``;
    ``visit``/``exposure``: ``visit``). Without it, a step whose tasks have a
    ``tract`` dimension runs per tract (``tract``), else one with ``visit`` or
    ``exposure`` runs per visit (``visit``); a step with none of them follows
    its split (``tract`` when split by tract, else ``visit``).
    ``step`` must be a step of ``dataflow``.
    """
    if step.scope == "global":
        return "global"
    sharded = dataflow.steps[step.name].level_from_sharding()
    if sharded is not None:
        return sharded
    dimensions = dataflow.steps[step.name].dimensions
    if "tract" in dimensions:
        return "tract"
    if "visit" in dimensions or "exposure" in dimensions:
        return "visit"
    return "tract" if step.split is not None and step.split.by == "tract" else "visit"


def split_level_error(spec: CampaignSpec, step: StepSpec, level: str) -> FieldError | None:
    """Return the problem of ``step``'s split at ``level`` (see :func:`step_level`), or None.

    A tract-level step cannot be split by visit or exposure: its groups are
    tracts, and a run of visits is no slice of them.
    """
    if level != "tract" or step.split is None or step.split.by not in VISIT_SPLIT_KINDS:
        return None
    return FieldError(
        f"{spec.step_paths.get(step.name, 'steps')}.split.by",
        f"{step.name} runs per tract; split by {step.split.by} needs a visit-level step (use tract, values or query)",
    )


def validate_against_dataflow(spec: CampaignSpec, dataflow: PipelineDataflow) -> list[FieldError]:
    """Return the problems of ``spec`` against the pipeline's dataflow (empty: fine).

    Checks that every step is a subset of the pipeline, that every dataset
    type a step reads or the outputs name is produced by some step of the
    campaign, or provided by ``inputs.dataset_types`` or ``defaults``, and
    that no tract-level step is split by visit or exposure.
    """
    errors: list[FieldError] = []
    paths = {step.name: spec.step_paths.get(step.name, "steps") for step in spec.steps}
    campaign_steps = [step.name for step in spec.steps]
    produced: set[str] = set()
    for name in campaign_steps:
        if name in dataflow.steps:
            produced.update(dataflow.steps[name].outputs)
    provided = set(spec.input_dataset_types) | spec.default_dataset_types()
    for step in spec.steps:
        name = step.name
        if name not in dataflow.steps:
            errors.append(FieldError(f"{paths[name]}.name", f"unknown step {name!r}: not a subset of the pipeline"))
            continue
        for dataset_type in dataflow.steps[name].inputs:
            if dataset_type not in produced and dataset_type not in provided:
                errors.append(
                    FieldError(
                        f"{paths[name]}.name",
                        f"input {dataset_type!r} is produced by no step and provided by no input or default",
                    )
                )
        split_error = split_level_error(spec, step, step_level(step, dataflow))
        if split_error is not None:
            errors.append(split_error)
        errors.extend(sharding_errors(spec, step, dataflow))
    for key, names in (("return", spec.outputs.return_), ("archive", spec.outputs.archive)):
        for index, dataset_type in enumerate(names):
            if dataset_type not in produced:
                errors.append(FieldError(f"outputs.{key}[{index}]", f"{dataset_type!r} is produced by no step"))
    if not errors:
        errors.extend(step_order_errors(spec, dataflow))
    return errors


def sharding_errors(spec: CampaignSpec, step: StepSpec, dataflow: PipelineDataflow) -> list[FieldError]:
    """Return the problems of ``step``'s scope and split against the pipeline's ``steps:`` section.

    A step the section runs once (no sharding dimension) cannot be forced
    ``wide`` nor split; a regional (``healpixN``) step gets one group per
    pixel and takes no split.
    """
    flow = dataflow.steps[step.name]
    path = spec.step_paths.get(step.name, "steps")
    level = flow.level_from_sharding()
    errors = []
    if level == "global" and step.scope == "wide":
        message = f"the pipeline runs {step.name} once (its steps: entry has no sharding dimension)"
        errors.append(FieldError(f"{path}.scope", message))
    if level in ("global", "healpix") and step.split is not None and step.scope != "global":
        pixel = next((d for d in flow.sharding or () if d.startswith("healpix")), "healpix")
        what = "runs once" if level == "global" else f"runs one group per {pixel} pixel"
        errors.append(FieldError(f"{path}.split", f"{step.name} {what} and takes no split"))
    return errors


def step_order_errors(spec: CampaignSpec, dataflow: PipelineDataflow) -> list[FieldError]:
    """Return the step-order problem lsst-pipe-base finds in the campaign's stages (empty: fine).

    The campaign's steps, in stage order, are given to lsst-pipe-base as the
    pipeline's steps (the tasks of other steps left out) and validated by it:
    a step producing what an earlier step reads is an error at that step's
    place in ``stages``.
    """
    labels = [step.name for step in spec.steps]
    problem = check_step_order(dataflow.uri, labels)
    if problem is None:
        return []
    label, message = problem
    return [FieldError(spec.stage_paths.get(label, spec.step_paths.get(label, "stages")), message)]


def dependency_errors(raw_steps: dict[str, tuple[dict, str]], stages: tuple[StageSpec, ...]) -> list[FieldError]:
    """Return the errors of ``depends_on``: unknown steps, waits for a later stage's step, and cycles.

    ``raw_steps`` maps each step name to (its fields, its path in the document).
    """
    errors: list[FieldError] = []
    steps = {step.name: step for stage in stages for step in stage.steps}
    position = {name: index for index, name in enumerate(steps)}
    for name, step in steps.items():
        path = raw_steps[name][1]
        for index, dependency in enumerate(step.depends_on):
            if dependency not in raw_steps:
                errors.append(FieldError(f"{path}.depends_on[{index}]", f"unknown step {dependency!r}"))
            elif dependency in position and position[dependency] > position[name]:
                # The stages order the steps; a wait for a later step can never be met.
                errors.append(FieldError(
                    f"{path}.depends_on[{index}]",
                    f"{name} cannot wait for {dependency!r}: the stages run {dependency} later",
                ))
    # Depth-first search; each cycle is reported once, at the step where it closes.
    graph = {name: [d for d in step.depends_on if d in steps] for name, step in steps.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dependency in graph[node]:
            if state.get(dependency) == 1:
                cycle = [*trail[trail.index(dependency) :], dependency]
                errors.append(FieldError(f"{raw_steps[node][1]}.depends_on",
                                         f"dependency cycle: {' -> '.join(cycle)}"))
            elif dependency not in state:
                visit(dependency, [*trail, dependency])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
    return errors
