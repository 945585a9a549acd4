"""Writing a plan's rows: the stages, steps, groups and movements of a new campaign, and reading them back.

:func:`~campaigns.services.create_campaign_from_spec` checks the spec and creates the campaign row, then
calls :func:`persist_plan_rows` in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from core.bulk import insert_rows
from planning.dataflow import PipelineDataflow
from planning.plan import Plan, PlannedGroup
from planning.spec import CampaignSpec
from sites.models import Site
from transfers.models import DatasetType, Movement

from .models import Campaign, Group, Stage, Step


def persist_plan_rows(campaign: Campaign, spec: CampaignSpec, dataflow: PipelineDataflow, plan: Plan,
                      sites: dict[str, Site]) -> None:
    """Create ``campaign``'s stages, steps, groups and movements (with their links) as ``plan`` has them.

    ``sites`` maps every site code the plan names to its row. Call it inside the campaign's transaction.
    """
    stages = {
        stage.name: Stage.objects.create(campaign=campaign, name=stage.name, order=stage.order)
        for stage in plan.stages
    }
    spec_steps = {step.name: step for step in spec.steps}
    steps: dict[str, Step] = {}
    for planned in plan.steps:
        split = spec_steps[planned.name].split
        steps[planned.name] = Step.objects.create(
            campaign=campaign, stage=stages[planned.stage], name=planned.name, order=planned.order,
            scope=planned.scope, level=planned.level, memory_mb=planned.memory_mb,
            split={} if split is None else {k: v for k, v in vars(split).items() if v not in (None, (), [])},
            inputs=planned.inputs, outputs=planned.outputs, query_constraint=planned.query_constraint,
        )
    for planned in plan.steps:
        steps[planned.name].depends_on.set([steps[name] for name in planned.depends_on])
    # rows as tuples, set-based (core.bulk): a Group instance per row cost 6 s of CPU at data-release scale
    insert_rows(
        Group, ("step_id", "site_id", "ordinal", "data_query", "data_ids"),
        ((steps[planned.name].pk, sites[group.site].pk, group.ordinal, group.data_query, _data_ids_of(group))
         for planned in plan.steps for group in planned.groups),
        values={"campaign": campaign},
    )
    persist_movements(campaign, plan, dataflow, steps, sites)


def group_data_ids(group: PlannedGroup) -> dict[str, list[int]]:
    """Return what ``Group.data_ids`` holds for a planned group: its visits, tracts and sky pixels, by dimension
    (``{"visit": [...], "tract": [...], "healpix3": [281]}``; empty lists left out)."""
    return {dimension: list(values) for dimension, values in _data_ids_of(group).items()}


def _data_ids_of(group: PlannedGroup) -> dict[str, list[int]]:
    """``group_data_ids`` sharing the group's own lists (to be encoded at once, not kept)."""
    ids = {"visit": group.visits, "tract": group.tracts, **group.pixels}
    return {dimension: values for dimension, values in ids.items() if values}


def dataset_type_rows(plan: Plan, dataflow: PipelineDataflow) -> dict[str, DatasetType]:
    """Return {name: DatasetType row} for every dataset type ``plan``'s movements carry, creating the
    missing rows (dimensions and storage class from ``dataflow``; empty when it does not know the type)."""
    names = {name for movement in plan.movements for name in movement.dataset_types}
    existing = {dt.name: dt for dt in DatasetType.objects.filter(name__in=names)}
    missing = []
    for name in sorted(names - set(existing)):
        info = dataflow.dataset_type(name)
        missing.append(DatasetType(name=name, dimensions=list(info.dimensions) if info else [],
                                   storage_class=info.storage_class if info else ""))
    DatasetType.objects.bulk_create(missing, ignore_conflicts=True)
    return {dt.name: dt for dt in DatasetType.objects.filter(name__in=names)}


def persist_movements(campaign: Campaign, plan: Plan, dataflow: PipelineDataflow, steps: dict[str, Step],
                      sites: dict[str, Site]) -> None:
    """Create the Movement rows of ``plan.movements`` for ``campaign`` with their sources, dataset types,
    feeding steps and earlier movements (which may be in ``plan`` or already stored for ``campaign``).

    ``steps`` and ``sites`` map the names and codes the movements use to their rows.
    """
    if not plan.movements:
        return
    types = dataset_type_rows(plan, dataflow)
    rows = Movement.objects.bulk_create(
        Movement(
            campaign=campaign, key=m.key, kind=m.kind, destination=sites[m.destination],
            collections=m.collections, data_ids=m.data_ids,
            before_step=steps.get(m.before_step) if m.before_step else None, expected_count=m.expected_count,
        )
        for m in plan.movements
    )
    by_key = {row.key: row for row in rows}
    earlier = {key for m in plan.movements for key in m.after_movements} - set(by_key)
    by_key.update({row.key: row for row in Movement.objects.filter(campaign=campaign, key__in=earlier)})
    through: dict[str, list] = defaultdict(list)
    for planned, row in zip(plan.movements, rows, strict=True):
        through["sources"] += [Movement.sources.through(movement_id=row.pk, site_id=sites[code].pk)
                               for code in planned.sources]
        through["dataset_types"] += [Movement.dataset_types.through(movement_id=row.pk, datasettype_id=types[n].pk)
                                     for n in planned.dataset_types]
        through["after_steps"] += [Movement.after_steps.through(movement_id=row.pk, step_id=steps[n].pk)
                                   for n in planned.after_steps]
        through["after_movements"] += [
            Movement.after_movements.through(from_movement_id=row.pk, to_movement_id=by_key[k].pk)
            for k in planned.after_movements
        ]
    for field, links in through.items():
        getattr(Movement, field).through.objects.bulk_create(links)


def persisted_plan(campaign: Campaign) -> dict[str, Any]:
    """Rebuild the plan's groups and movements from the database rows (to compare with the stored plan).

    Returns ``{"groups": {step: [(ordinal, site, data_query)]}, "movements": {key: {...}}}``.
    """
    groups: dict[str, list] = defaultdict(list)
    for step_name, ordinal, site, query in (
        Group.objects.filter(campaign=campaign).order_by("step__order", "ordinal")
        .values_list("step__name", "ordinal", "site__code", "data_query")
    ):
        groups[step_name].append((ordinal, site, query))
    movements = {}
    for movement in (Movement.objects.filter(campaign=campaign).select_related("destination", "before_step")
                     .prefetch_related("sources", "dataset_types", "after_steps")):
        movements[movement.key] = {
            "kind": movement.kind,
            "sources": sorted(site.code for site in movement.sources.all()),
            "destination": movement.destination.code,
            "dataset_types": sorted(dt.name for dt in movement.dataset_types.all()),
            "data_ids": movement.data_ids,
            "before_step": movement.before_step.name if movement.before_step else None,
            "after_steps": sorted(step.name for step in movement.after_steps.all()),
        }
    return {"groups": dict(groups), "movements": movements}
