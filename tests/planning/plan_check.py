"""An independent check of a plan: replay it piece by piece and report what would be missing or moved in vain.

The replay knows only the plan, the dataflow and the inventory's visit -> tracts
map. It runs the steps in order; before a step every movement anchored to it
delivers, from its source, the pieces the source holds of each of its dataset
types that its ``data_ids`` select (every key among the type's dimensions, as the
transfer backends do); every group then needs each piece it reads that anyone
makes (or that is an input at the hub) to be at its site, and makes its outputs
there. Returns deliver after the last step.
"""

from __future__ import annotations

from collections import defaultdict

from planning.dataflow import DatasetTypeInfo, PipelineDataflow
from planning.planner import Plan, PlannedGroup

Piece = tuple[int, ...]


def _pieces(info: DatasetTypeInfo, group: PlannedGroup, visit_tracts, exposure_of, all_visits,
            keep=None) -> set[Piece] | None:
    """``keep(visit, tract)``: the group's step processes that pair (its split; None: every pair)."""
    keys = info.restriction_keys()
    if not keys:
        return None
    visits, tracts = group.visits, group.tracts
    if not visits and not tracts:  # global
        visits = all_visits
        tracts = sorted({t for v in visits for t in visit_tracts[v]})
        keep = None
    tract_set = set(tracts)
    as_key = (lambda v: exposure_of[v]) if keys[0] == "exposure" else (lambda v: v)
    if keys == ("tract",):
        return {(t,) for t in tracts}
    if len(keys) == 1:
        return {(as_key(v),) for v in visits}
    return {(as_key(v), t) for v in visits for t in visit_tracts[v]
            if t in tract_set and (keep is None or keep(v, t))}


def _selected(info: DatasetTypeInfo, pieces: set[Piece], data_ids: dict[str, list[int]]) -> set[Piece]:
    keys = info.restriction_keys()
    chosen = set(pieces)
    for index, key in enumerate(keys):
        if key in data_ids and data_ids[key]:
            allowed = set(data_ids[key])
            chosen = {piece for piece in chosen if piece[index] in allowed}
    return chosen


def check_plan(plan: Plan, dataflow: PipelineDataflow, visit_tracts: dict[int, tuple[int, ...]],
               exposure_of: dict[int, int], inputs: set[str], keep=None) -> list[str]:
    """Return the problems of ``plan`` (empty: every read is local or moved in time, nothing moves in vain).

    ``visit_tracts`` maps each planned visit to its planned tracts; ``inputs`` are the dataset types the hub
    holds before the campaign (inputs and defaults); ``keep`` maps a step to ``keep(visit, tract)``, the
    (visit, tract) pairs its split keeps (a visit-and-tract piece of another pair is neither read nor made).
    Moved pieces are checked one by one: a movement selects, of what its source made, every piece whose
    values of each key are among its ``data_ids``, and each selected piece must be read at the destination.
    """
    keep = keep or {}
    problems: list[str] = []
    all_visits = sorted(visit_tracts)
    info_of = {}
    for flow in dataflow.steps.values():
        info_of.update(flow.inputs)
        info_of.update(flow.outputs)
    # held[site][dataset type]: pieces there (None: whole); made[(step, type)][piece] = site
    held: dict[str, dict[str, set[Piece] | None]] = defaultdict(lambda: defaultdict(set))
    # Every campaign product, even one no group makes (a split upstream left it out): nobody can read it.
    made_by: dict[str, dict[Piece, str] | None] = {
        name: {} for step in plan.steps for name in dataflow.steps[step.name].outputs}
    made_sites: dict[str, set[str]] = defaultdict(set)
    for dataset_type in inputs:
        held[plan.hub][dataset_type] = None
    received: dict[tuple[str, str], set[Piece]] = defaultdict(set)
    used: dict[tuple[str, str], set[Piece]] = defaultdict(set)

    def source_holds(source: str, dataset_type: str) -> set[Piece] | None:
        if dataset_type in made_by:  # a product: what the source made of it
            made = made_by[dataset_type]
            if made is None:
                return None if source in made_sites[dataset_type] else set()
            return {piece for piece, site in made.items() if site == source}
        return held[source][dataset_type]

    def deliver(movement) -> None:
        for dataset_type in movement.dataset_types:
            info = info_of[dataset_type]
            for source in movement.sources:
                holds = source_holds(source, dataset_type)
                if holds is None or not info.restriction_keys():
                    held[movement.destination][dataset_type] = None
                    received[(movement.destination, dataset_type)].add(("*",))
                    continue
                moved = _selected(info, holds, movement.data_ids)
                if not moved:
                    problems.append(f"{movement.key}: moves no {dataset_type}")
                twice = moved & received[(movement.destination, dataset_type)]
                if twice:
                    problems.append(f"{movement.key}: {dataset_type} {sorted(twice)[:3]} reaches "
                                    f"{movement.destination} twice")
                received[(movement.destination, dataset_type)] |= moved
                current = held[movement.destination][dataset_type]
                if current is not None:
                    current |= moved

    for step in plan.steps:
        for movement in plan.movements:
            if movement.before_step == step.name:
                deliver(movement)
        flow = dataflow.steps[step.name]
        for group in step.groups:
            if not group.visits and not group.tracts and step.level != "global":
                problems.append(f"{step.name} group {group.ordinal} at {group.site} has no data")
            for dataset_type, info in flow.inputs.items():
                needed = _pieces(info, group, visit_tracts, exposure_of, all_visits, keep.get(step.name))
                there = held[group.site][dataset_type]
                if needed is None:
                    if dataset_type in inputs and there is not None:
                        problems.append(f"{step.name}@{group.site}: {dataset_type} (whole) is not there")
                    continue
                used[(group.site, dataset_type)] |= needed
                if dataset_type in made_by and made_by[dataset_type] is not None:
                    needed = {piece for piece in needed if piece in made_by[dataset_type]}
                    # A group covers only data its upstream inputs exist for: each of its visits is read.
                    if info.restriction_keys()[0] in ("exposure", "visit"):
                        read = {piece[0] for piece in needed}
                        as_key = (exposure_of if info.restriction_keys()[0] == "exposure"
                                  else {v: v for v in group.visits})
                        idle = [v for v in group.visits if as_key[v] not in read]
                        if idle:
                            problems.append(f"{step.name}@{group.site} group {group.ordinal}: no {dataset_type} is "
                                            f"made for visits {idle[:5]}")
                    elif not needed:
                        problems.append(f"{step.name}@{group.site} group {group.ordinal}: no {dataset_type} is made "
                                        "for it")
                if there is None:
                    continue
                missing = needed - there
                if missing:
                    problems.append(f"{step.name}@{group.site} group {group.ordinal}: {dataset_type} "
                                    f"{sorted(missing)[:5]} neither made there nor moved there before")
        for group in step.groups:
            for dataset_type, info in flow.outputs.items():
                pieces = _pieces(info, group, visit_tracts, exposure_of, all_visits, keep.get(step.name))
                made_sites[dataset_type].add(group.site)
                if pieces is None:
                    made_by[dataset_type] = None
                    held[group.site][dataset_type] = None
                    continue
                made = made_by.setdefault(dataset_type, {})
                if made is not None:
                    for piece in pieces:
                        made.setdefault(piece, group.site)
                current = held[group.site][dataset_type]
                if current is not None:
                    current |= pieces
    returned = set()
    for movement in plan.movements:
        if movement.kind == "return":
            deliver(movement)
            returned.update(movement.dataset_types)
    for (site, dataset_type), pieces in received.items():
        if ("*",) in pieces:
            continue
        if site == plan.hub and dataset_type in returned:
            continue
        unread = pieces - used[(site, dataset_type)]
        if unread:
            problems.append(f"{dataset_type} {sorted(unread)[:5]} moved to {site} where no group reads it")
    return problems


def check_returns(plan: Plan, dataflow: PipelineDataflow, visit_tracts, exposure_of, wanted, keep=None) -> list[str]:
    """Return what of the ``wanted`` outputs (made anywhere by their last producer) the returns do not bring
    to the hub, and any piece brought twice."""
    keep = keep or {}
    problems = []
    all_visits = sorted(visit_tracts)
    for dataset_type in wanted:
        producer = next(s for s in reversed(plan.steps) if dataset_type in dataflow.steps[s.name].outputs)
        if producer.level == "global":
            continue
        info = dataflow.steps[producer.name].outputs[dataset_type]
        made: dict[Piece, str] = {}
        for group in producer.groups:
            for piece in _pieces(info, group, visit_tracts, exposure_of, all_visits, keep.get(producer.name)) or ():
                made.setdefault(piece, group.site)
        brought: list[Piece] = []
        for movement in plan.movements:
            if (movement.kind != "archive" and movement.destination == plan.hub
                    and dataset_type in movement.dataset_types):
                for source in movement.sources:
                    held = {p for p, s in made.items() if s == source}
                    brought += sorted(_selected(info, held, movement.data_ids))
        expected = {p for p, s in made.items() if s != plan.hub}
        if set(brought) != expected:
            problems.append(f"{dataset_type}: missing {sorted(expected - set(brought))[:5]}, "
                            f"extra {sorted(set(brought) - expected)[:5]}")
        if len(brought) != len(set(brought)):
            problems.append(f"{dataset_type}: some pieces are brought twice")
    return problems


def check_archive(plan: Plan, dataflow: PipelineDataflow, archived) -> list[str]:
    """Return what keeps an ``archived`` output (made by some step, at any site) from being archived: no archive
    movement naming it, or the archive not waiting for its producing step or for a movement bringing it to the
    hub."""
    made = {name for name in archived if any(name in dataflow.steps[s.name].outputs for s in plan.steps)}
    archives = [m for m in plan.movements if m.kind == "archive"]
    if not made:
        return [f"archive planned with nothing to archive: {[m.key for m in archives]}"] if archives else []
    if len(archives) != 1:
        return [f"{len(archives)} archive movements for {sorted(made)}"]
    (archive,) = archives
    problems = []
    if sorted(made) != archive.dataset_types:
        problems.append(f"the archive holds {archive.dataset_types}, not {sorted(made)}")
    for name in made:
        producer = next(s.name for s in reversed(plan.steps) if name in dataflow.steps[s.name].outputs)
        if producer not in archive.after_steps:
            problems.append(f"the archive does not wait for {producer}, which makes {name}")
    for movement in plan.movements:
        if (movement.kind != "archive" and movement.destination == plan.hub and set(movement.dataset_types) & made
                and movement.key not in archive.after_movements):
            problems.append(f"the archive does not wait for {movement.key}, which brings {movement.dataset_types}")
    return problems
