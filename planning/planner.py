"""Turn a campaign spec, a data inventory and a pipeline dataflow into a plan.

The plan says, per step, which site runs which groups (one BPS submission
each) and, as movements, what data has to reach which site before which
step. It is plain dataclasses; :meth:`Plan.to_dict` gives the JSON the
Django side persists and :meth:`Plan.from_dict` reads it back unchanged.

Rules (see ``docs/campaign-spec.md``):

* Tracts belong to sites (``tract_map``, or by shares with the
  ``tract_assignment`` rule of :mod:`~planning.assignment`:
  compact sky regions when the inventory knows the tracts' centres, else
  contiguous blocks of the sorted ids in site order).
* A visit is processed by one of the sites owning the planned tracts it
  overlaps, by the spec's ``visit_assignment`` rule
  (:func:`~planning.assignment.visit_owner`): by default the site owning the
  most of them (ties: the one owning the lowest tract id), so each side of a
  boundary between sites owns the visits lying mostly on its side. Every other
  site whose tracts it overlaps gets its visit-level products by a movement.
* Step level (:func:`~planning.spec.step_level`): a step whose
  tasks have a ``tract`` dimension runs per tract at the tract owners; one
  with ``visit``/``exposure`` runs per visit at the visit owners; a global
  step runs once at the hub over everything. A tract-level step split by
  ``visit``/``exposure`` is a spec error (``steps[N].split.by``), not a
  silent tract split.
* A regional step (sharded by ``healpixN`` in the pipeline's ``steps:``)
  runs one group per sky pixel that holds data, at the site holding most of
  its inputs (ties: the hub); see :mod:`planning.regions`.
* Groups hold exactly the data they process: ``values``/``query`` splits are
  evaluated against the inventory (:mod:`.selection`), and a (visit, tract)
  pair is kept only when every input of the step made upstream has its piece
  made by some group (:meth:`_Planner.fed_by_upstream`); a group with no visit
  or no tract is not made.
* What a group reads or writes of a dataset type is a set of pieces (its
  restriction keys' values: a visit, exposure, tract, or visit x tract pair).
  Every piece a site's groups read that another site's group made becomes a
  movement from that producing site, before the step; a piece no group makes is
  not read; nothing moves twice to a site. Returned outputs come back from the
  site that made each piece, after their producing step.
* Movements with the same kind, source, destination, before-step and origin
  are merged (one movement per source site: a source that is down does not
  hold up the others' tracking), and cut again where their dataset types need
  different values of one data-ID key, or where a visit-and-tract type's pieces
  are not a visits x tracts rectangle of what the source made (so a movement
  selects exactly the pieces read at its destination).

* Inputs must match data: a ``tract_map`` tract the inventory does not
  have, a split value of ``visit``/``exposure``/``tract``/``band`` it does
  not have, and a step that would get no group at all are spec errors at
  their path (``tract_map.9496``, ``steps[3].split.values[1]``,
  ``steps[3]``): a campaign that cannot finish is refused, not planned.
* A group's data query is the planner's restriction AND the user's
  fragment in parentheses (:func:`~planning.query.conjoin`); the
  fragment was parsed by daf_butler's parser when the spec was read, so it
  cannot widen the restriction. Collections are checked against Butler's
  length limit with the group ordinals known.

Every step is linear in the inventory: tract -> visits and piece -> producing
site indexes, never a scan of all visits per group.

The plan's dataclasses are in :mod:`.plan`, the movement rules in
:mod:`.movement_rules` and the regional (healpix) rules in :mod:`.regional_rules`
(mixins of the planner), re-planning after a lost site in :mod:`.replan`; the
dataclasses and ``reassigned_groups`` are re-exported here.
"""

from __future__ import annotations

import contextlib
import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from .assignment import assign_tracts, id_block_tracts, visit_owner
from .collection_names import segment_clashes
from .dataflow import DatasetTypeInfo, PipelineDataflow
from .inventory import DataInventory, VisitInfo, inventory_arrays
from .movement_rules import MovementRules
from .plan import (
    MOVEMENT_KINDS,
    Piece,
    Plan,
    PlannedGroup,
    PlannedMovement,
    PlannedSite,
    PlannedStage,
    PlannedStep,
    PlanningError,
)
from .query import conjoin, literal
from .regional_rules import RegionalRules
from .regions import healpix_level_of
from .replan import reassigned_groups
from .selection import Predicate, compile_split
from .spec import (
    COLLECTION_MAX_LENGTH,
    VISIT_SPLIT_KINDS,
    CampaignSpec,
    FieldError,
    SpecError,
    SplitSpec,
    StepSpec,
    collection_errors,
    split_level_error,
    step_level,
)
from .structure import step_dependencies

__all__ = [
    "MOVEMENT_KINDS",
    "Plan",
    "PlanningError",
    "PlannedGroup",
    "PlannedMovement",
    "PlannedSite",
    "PlannedStage",
    "PlannedStep",
    "apportion_tracts",
    "plan_campaign",
    "reassigned_groups",
]


def apportion_tracts(tracts: Iterable[int], shares: Sequence[tuple[str, float]]) -> dict[int, str]:
    """Return tract -> site, giving each site a contiguous block of the sorted tracts.

    Block sizes follow the shares by largest-remainder apportionment (ties go
    to the site listed first), so the result is deterministic. The ``id_blocks``
    rule of :mod:`planning.assignment`.
    """
    return id_block_tracts(tracts, shares)


def _chunks(values: Sequence[int], size: int | None) -> list[list[int]]:
    if not values:
        return []
    if size is None:
        return [list(values)]
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


def _both(first: Predicate | None, second: Predicate | None) -> Predicate | None:
    """Return the predicate that holds where both hold (None: no restriction)."""
    if first is None or second is None:
        return first or second
    return lambda row: first(row) and second(row)


def _in(dimension: str, values: Iterable[int]) -> str:
    return f"{dimension} IN ({', '.join(str(v) for v in values)})"


class _Planner(MovementRules, RegionalRules):
    """One planning run; holds the ownership maps and indexes the rules below share."""

    def __init__(self, spec: CampaignSpec, inventory: DataInventory, dataflow: PipelineDataflow,
                 collection_max_length: int | None = None) -> None:
        self.spec = spec
        self.collection_max_length = collection_max_length
        self.dataflow = dataflow
        self.steps = list(spec.steps)
        self.order = {step.name: index for index, step in enumerate(self.steps, start=1)}
        self.level = {step.name: step_level(step, dataflow) for step in self.steps}
        self.depends_on = step_dependencies(spec, dataflow)
        # load_spec reports these with the other dataflow errors; a spec that did not go
        # through it (parse_spec only) gets the same errors here, before any group is made.
        split_errors = [error for step in self.steps if (error := split_level_error(spec, step, self.level[step.name]))]
        if split_errors:
            raise SpecError(split_errors)
        self._restricted: dict[str, bool] = {}
        self.filters = {
            step.name: compile_split(step.split.by, values=step.split.values, dimension=step.split.dimension,
                                     query=step.split.query, path=spec.step_paths.get(step.name, "steps"))
            for step in self.steps if step.split is not None
        }
        self.hub = spec.hub
        self.sites = list(spec.site_codes)
        known_tracts = set(inventory.tracts())
        if spec.tract_map is not None:
            unknown = [FieldError(f"tract_map.{tract}", "no such tract in the inventory")
                       for tract in spec.tract_map if tract not in known_tracts]
            if unknown:
                raise SpecError(unknown)
            self.tract_owner = dict(sorted(spec.tract_map.items()))
        else:
            arrays = inventory_arrays(inventory)
            self.tract_owner = assign_tracts(
                arrays.tracts(),
                [(s.code, s.share or 0.0) for s in spec.sites],
                spec.tract_assignment,
                (arrays.center_tracts, arrays.center_ra, arrays.center_dec),
            )
        if not self.tract_owner:
            raise PlanningError("no tracts to process: the inventory is empty or all shares are 0")
        self.visits: dict[int, VisitInfo] = {}
        self.visit_owner: dict[int, str] = {}
        self.visit_tracts: dict[int, tuple[int, ...]] = {}
        self.tract_visits: dict[int, list[int]] = defaultdict(list)
        every_tract = known_tracts <= self.tract_owner.keys()  # the shares assign every tract of the inventory
        owner, tract_owner, rule, hub = visit_owner, self.tract_owner, spec.visit_assignment, spec.hub
        for info in inventory.visits():
            planned = info.tracts if every_tract else tuple(t for t in info.tracts if t in self.tract_owner)
            if not planned:
                continue  # overlaps no planned tract: not part of this campaign
            self.visits[info.visit] = info
            self.visit_tracts[info.visit] = planned
            self.visit_owner[info.visit] = owner(planned, tract_owner, rule, hub)[0]
            for tract in planned:
                self.tract_visits[tract].append(info.visit)
        self.exposure_visit = {info.exposure: visit for visit, info in self.visits.items()}
        self.visit_piece: dict[int, Piece] = {visit: (visit,) for visit in self.visits}
        self._check_split_values()
        self._site_tracts: dict[str, list[int]] = defaultdict(list)
        for tract, owner in self.tract_owner.items():
            if self.tract_visits.get(tract):  # a mapped tract no visit overlaps holds no data
                self._site_tracts[owner].append(tract)
        self._site_visits: dict[str, list[int]] = defaultdict(list)
        for visit in sorted(self.visit_owner):
            self._site_visits[self.visit_owner[visit]].append(visit)
        self.planned_groups: dict[str, list[PlannedGroup]] = {}
        self.already: list[PlannedMovement] = []
        self._produced: dict[tuple[str, tuple[str, ...]], dict[Piece, str] | None] = {}
        self._row_filters: dict[str, Predicate | None] = {}
        self._pixels: dict[int, dict[int, int]] = {}
        #: regional step -> pixel -> the site running that pixel's group
        self.pixel_site: dict[str, dict[int, str]] = {}
        for step in self.steps:
            if self.level[step.name] == "healpix":
                self.pixel_site[step.name] = self._place_pixels(step.name)

    def _check_split_values(self) -> None:
        """Raise SpecError for split values of a data-ID dimension the campaign's data does not have."""
        known: dict[str, set] = {
            "visit": set(self.visits), "exposure": {info.exposure for info in self.visits.values()},
            "tract": set(self.tract_owner), "band": {info.band for info in self.visits.values()},
        }
        errors = []
        for step in self.steps:
            split = step.split
            if split is None or split.by != "values" or split.dimension not in known:
                continue
            for index, value in enumerate(split.values):
                if value not in known[split.dimension]:
                    path = f"{self.spec.step_paths.get(step.name, 'steps')}.split.values[{index}]"
                    errors.append(FieldError(path, f"no such {split.dimension} in the campaign's data: {value!r}"))
        if errors:
            raise SpecError(errors)

    # -- ownership and domains -------------------------------------------------

    def site_tracts(self, site: str) -> list[int]:
        """Return the tracts ``site`` owns that hold data (some planned visit overlaps them)."""
        return self._site_tracts.get(site, [])

    def owned_tracts(self, site: str) -> list[int]:
        """Return every tract ``site`` owns, with data or not."""
        return [tract for tract, owner in self.tract_owner.items() if owner == site]

    def site_visits(self, site: str) -> list[int]:
        return self._site_visits.get(site, [])

    def anchor_tract(self, visit: int) -> int:
        """Return the lowest of ``visit``'s planned tracts that its owner owns (its tract in a split by tract)."""
        owner = self.visit_owner[visit]
        return next(t for t in self.visit_tracts[visit] if self.tract_owner[t] == owner)

    def row(self, visit: int, tract: int) -> dict[str, Any]:
        info = self.visits[visit]
        return {"instrument": self.spec.instrument, "skymap": self.spec.skymap, "visit": visit,
                "exposure": info.exposure, "band": info.band, "tract": tract}

    def pieces(self, info: DatasetTypeInfo, group: PlannedGroup, step: str | None = None) -> set[Piece] | None:
        """Return the pieces of ``info`` that ``group`` (of ``step``) reads or writes (None: it moves whole).

        A piece is the tuple of the dataset type's restriction keys
        (:meth:`DatasetTypeInfo.restriction_keys`): ``(exposure,)``,
        ``(visit,)``, ``(tract,)`` or ``(visit, tract)`` for a visit-and-tract
        type, whose pairs are the group's visits each with the group's tracts
        it overlaps, as far as ``step``'s rows are kept (:meth:`row_filter`: a
        query split such as ``band = 'g' OR tract = 101`` keeps some pairs of a
        visit and not others).
        """
        keys = info.restriction_keys()
        if not keys:
            return None
        keep = None
        if not group.visits and not group.tracts:  # a global group: everything
            group = PlannedGroup(group.ordinal, group.site, group.data_query, sorted(self.visits),
                                 sorted(self.tract_visits))
        elif step is not None and len(keys) > 1:
            keep = self.row_filter(step)
        if keys == ("tract",):
            return {(t,) for t in group.tracts}
        if len(keys) == 1 and (level := healpix_level_of(keys[0])) is not None:
            pixels = self.visit_pixels(level)
            return {(pixels[v],) for v in group.visits}
        if len(keys) == 1:
            if keys[0] == "exposure":
                return {(self.visits[v].exposure,) for v in group.visits}
            visit_piece = self.visit_piece
            return {visit_piece[v] for v in group.visits}  # one tuple per visit, shared by every set
        visit_of = (lambda v: self.visits[v].exposure) if keys[0] == "exposure" else (lambda v: v)
        tracts = set(group.tracts)
        return {(visit_of(v), t) for v in group.visits for t in self.visit_tracts[v]
                if t in tracts and (keep is None or keep(self.row(v, t)))}

    def row_filter(self, step: str) -> Predicate | None:
        """Return the predicate a (visit, tract) row of ``step`` must meet: its split's and its upstream inputs'."""
        if step not in self._row_filters:
            self._row_filters[step] = _both(self.filters.get(step), self.fed_by_upstream(step))
        return self._row_filters[step]

    def produced(self, producer: str, dataset_type: str) -> dict[Piece, str] | None:
        """Return piece -> the site whose group of ``producer`` writes it (None: a whole dataset type).

        Shared (not to be modified) by the producer's outputs with the same restriction keys: their pieces are
        the same.
        """
        info = self.dataflow.steps[producer].outputs[dataset_type]
        cache_key = (producer, info.restriction_keys())
        if cache_key not in self._produced:
            where: dict[Piece, str] | None = {}
            for group in self.planned_groups[producer]:
                made = self.pieces(info, group, producer)
                if made is None:
                    where = None
                    break
                for piece in made:
                    where.setdefault(piece, group.site)
            self._produced[cache_key] = where
        return self._produced[cache_key]

    def producer_sites(self, producer: str) -> list[str]:
        return list(dict.fromkeys(group.site for group in self.planned_groups[producer]))

    def producer_of(self, dataset_type: str, before: str | None) -> str | None:
        """Return the last campaign step before ``before`` (None: any) that writes ``dataset_type``."""
        limit = self.order[before] if before is not None else len(self.steps) + 1
        candidates = [
            step.name
            for step in self.steps
            if dataset_type in self.dataflow.steps[step.name].outputs and self.order[step.name] < limit
        ]
        return candidates[-1] if candidates else None

    # -- groups ----------------------------------------------------------------

    def fed_by_upstream(self, step: str) -> Predicate | None:
        """Return a predicate over a (visit, tract) row: every input of ``step`` made upstream has its piece.

        An input made by an earlier step of the campaign exists only for the pieces that step's groups make
        (a split there may leave visits, bands or tracts out); a row one of them lacks gives the step nothing
        to read, so no group of ``step`` covers it. None when no input is made upstream piece by piece.
        """
        checks: list[tuple[tuple[str, ...], dict[Piece, str]]] = []
        for name, info in self.dataflow.steps[step].inputs.items():
            producer = self.producer_of(name, step)
            if producer is None or not self.restricted(producer):
                continue  # an unrestricted producer makes the piece of every row: nothing to check
            keys = info.restriction_keys()
            made = self.produced(producer, name) if keys else None
            if made is not None:
                checks.append((keys, made))
        if not checks:
            return None

        def fed(row: dict[str, Any]) -> bool:
            return all(self.piece_of(keys, row["visit"], row["tract"]) in made for keys, made in checks)

        return fed

    def restricted(self, step: str) -> bool:
        """True when ``step``'s groups may leave rows of the data out: its split filters rows (values, query),
        or a step whose outputs it reads is restricted. An unrestricted step makes the pieces of every row."""
        if step not in self._restricted:
            self._restricted[step] = False  # a cycle cannot make a step restricted
            upstream = (self.producer_of(name, step) for name in self.dataflow.steps[step].inputs)
            self._restricted[step] = self.filters.get(step) is not None or any(
                producer is not None and self.restricted(producer) for producer in upstream)
        return self._restricted[step]

    def piece_of(self, keys: tuple[str, ...], visit: int, tract: int) -> Piece:
        """Return the piece with restriction ``keys`` of the (visit, tract) pair."""
        values = []
        for key in keys:
            if key == "exposure":
                values.append(self.visits[visit].exposure)
            elif key == "visit":
                values.append(visit)
            elif key == "tract":
                values.append(tract)
            else:
                values.append(self.visit_pixels(healpix_level_of(key))[visit])  # type: ignore[arg-type]
        return tuple(values)

    def groups(self, step: StepSpec) -> list[PlannedGroup]:
        """Return the groups of ``step``: each with exactly the visits and tracts it processes, none empty."""
        instrument = f"instrument={literal(self.spec.instrument)}"
        level = self.level[step.name]
        if level == "global":
            return [PlannedGroup(1, self.hub, instrument, [], [])]
        if self.level[step.name] == "healpix":
            dimension = self.healpix_dimension(step.name)
            placement = self.pixel_site[step.name]
            ordered = sorted(placement, key=lambda pixel: (self.sites.index(placement[pixel]), pixel))
            regional = []
            fed = self.fed_by_upstream(step.name)
            for pixel in ordered:
                visits, _ = self.pixel_domain(step.name, {pixel})
                if fed is not None:
                    visits = {v for v in visits if any(fed(self.row(v, t)) for t in self.visit_tracts[v])}
                if not visits:
                    continue  # the upstream steps make nothing this pixel's group could read
                tracts = {t for v in visits for t in self.visit_tracts[v]}
                regional.append(PlannedGroup(len(regional) + 1, placement[pixel], instrument, sorted(visits),
                                             sorted(tracts), pixels={dimension: [pixel]}))
            return regional
        skymap = f"skymap={literal(self.spec.skymap)}"
        split = step.split or SplitSpec(by="tract" if level == "tract" else "visit")
        fed = self.fed_by_upstream(step.name)
        keep = self.row_filter(step.name)
        groups: list[PlannedGroup] = []

        def add(site: str, query: str, visits: Iterable[int], tracts: Iterable[int]) -> None:
            visits, tracts = sorted(set(visits)), sorted(set(tracts))
            if visits and tracts:  # a group with no data is not made
                groups.append(PlannedGroup(len(groups) + 1, site, query, visits, tracts))

        def tract_slice(tracts: Sequence[int], keep: Predicate | None = keep) -> tuple[list[int], list[int]]:
            """Return (visits, tracts) of a tract-level slice, as far as ``keep`` keeps them."""
            visits: set[int] = set()
            kept: list[int] = []
            for tract in tracts:
                overlapping = [v for v in self.tract_visits[tract] if keep is None or keep(self.row(v, tract))]
                if overlapping:
                    kept.append(tract)
                    visits.update(overlapping)
            return sorted(visits), kept

        def visit_slice(visits: Sequence[int], keep: Predicate | None = keep) -> tuple[list[int], list[int]]:
            """Return (visits, tracts) of a visit-level slice, as far as ``keep`` keeps them."""
            kept = [v for v in visits
                    if keep is None or any(keep(self.row(v, t)) for t in self.visit_tracts[v])]
            return kept, sorted({t for v in kept for t in self.visit_tracts[v]})

        slicer = tract_slice if level == "tract" else visit_slice
        for site in self.sites:
            tracts = self.site_tracts(site)
            if not tracts:
                continue
            if split.by == "tract":
                for chunk in _chunks(tracts, split.max_size or 1):
                    if level == "tract":
                        visits, kept = tract_slice(chunk)
                        add(site, f"{skymap} AND {_in('tract', kept)}", visits, kept)
                    else:
                        owned = sorted(v for t in chunk for v in self.tract_visits[t] if self.anchor_tract(v) == t)
                        visits, kept = visit_slice(owned)
                        add(site, f"{instrument} AND {_in('visit', visits)}", visits, kept)
            elif split.by in VISIT_SPLIT_KINDS:  # visit-level steps only: checked in __init__
                fed_visits, _ = visit_slice(self.site_visits(site), fed)
                for chunk in _chunks(fed_visits, split.max_size):
                    if split.by == "exposure":
                        query = f"{instrument} AND {_in('exposure', [self.visits[v].exposure for v in chunk])}"
                    else:
                        query = f"{instrument} AND {_in('visit', chunk)}"
                    add(site, query, chunk, {t for v in chunk for t in self.visit_tracts[v]})
            else:
                domain = tracts if level == "tract" else self.site_visits(site)
                if split.by == "values":
                    restrictions = [
                        (f"{split.dimension}={literal(value)}",
                         _both(compile_split("values", values=(value,), dimension=split.dimension), fed))
                        for value in split.values
                    ]
                else:
                    restrictions = [(split.query or "", keep)]
                for clause, only in restrictions:
                    visits, kept = slicer(domain, only)
                    base = (f"{skymap} AND {_in('tract', kept)}" if level == "tract"
                            else f"{instrument} AND {_in('visit', visits)}")
                    add(site, conjoin([base, clause]), visits, kept)
        return groups

    # -- the plan --------------------------------------------------------------

    def plan(self) -> Plan:
        steps = []
        empty = []
        for step in self.steps:
            flow = self.dataflow.steps[step.name]
            groups = (self.planned_groups[step.name] if step.name in self.planned_groups
                      else self.planned_groups.setdefault(step.name, self.groups(step)))
            if not groups:
                empty.append(FieldError(self.spec.step_paths.get(step.name, "steps"),
                                        f"{step.name} matches no data: it would have no group and the campaign "
                                        "could never finish"))
            steps.append(
                PlannedStep(
                    name=step.name,
                    stage=step.stage,
                    order=self.order[step.name],
                    scope=step.scope or ("global" if self.level[step.name] == "global" else "wide"),
                    level=self.level[step.name],
                    depends_on=self.depends_on[step.name],
                    memory_mb=step.memory_mb,
                    inputs=sorted(flow.inputs),
                    outputs=sorted(flow.outputs),
                    groups=groups,
                    query_constraint="off" if any(healpix_level_of(dimension) is not None
                                                  for info in flow.inputs.values()
                                                  for dimension in info.dimensions) else "",
                )
            )
        clashes = [FieldError(self.spec.step_paths.get(labels[1], "steps"),
                              f"steps {', '.join(labels)} would share the collections {self.spec.output_prefix}/"
                              f"{segment}/... (collection_names.py names a stepNx-words step by its stepNx part)")
                   for segment, labels in segment_clashes(step.name for step in steps).items()]
        errors = empty + clashes + collection_errors(self.spec, {step.name: len(step.groups) for step in steps},
                                                     self.collection_max_length)
        if errors:
            raise SpecError(errors)
        shares = self.spec.shares() if self.spec.tract_map is None else {}
        return Plan(
            name=self.spec.name,
            hub=self.hub,
            instrument=self.spec.instrument,
            skymap=self.spec.skymap,
            pipeline=self.spec.pipeline,
            output_prefix=self.spec.output_prefix,
            sites=[
                PlannedSite(site, shares.get(site), self.owned_tracts(site), self.site_visits(site))
                for site in self.sites
            ],
            stages=[
                PlannedStage(stage.name, order, [step.name for step in stage.steps])
                for order, stage in enumerate(self.spec.stages, start=1)
            ],
            steps=steps,
            movements=self.movements(),
        )


def plan_campaign(
    spec: CampaignSpec,
    inventory: DataInventory,
    dataflow: PipelineDataflow,
    *,
    groups: Mapping[str, list[PlannedGroup]] | None = None,
    delivered: Iterable[PlannedMovement] = (),
    collection_max_length: int | None = COLLECTION_MAX_LENGTH,
) -> Plan:
    """Return the plan of ``spec`` over the data in ``inventory``.

    ``dataflow`` must describe every step of the spec (see
    :func:`planning.spec.load_spec`, which validates that).

    Re-planning a running campaign: ``groups`` gives, per step, the groups as
    they now stand (each where it ran or will run; see :func:`reassigned_groups`)
    instead of computing them, so every movement follows from where each piece
    is actually made; ``delivered`` are movements already done or under way,
    whose pieces are not moved again.

    Raises:
        PlanningError: there is nothing to plan (no tracts), or a step of the
            spec is missing from ``dataflow``.
        SpecError: a step's split does not fit its level (a tract-level step
            split by visit or exposure), each error at ``steps[N].split.by``;
            a tract or split value the data does not have; a step with no
            group; collections longer than ``collection_max_length`` (default:
            Butler's 64; None: not checked), at ``output_prefix`` or ``name``;
            two steps whose collections would be the same (``collection_names.py``).
    """
    missing = [step.name for step in spec.steps if step.name not in dataflow.steps]
    if missing:
        raise PlanningError(f"the pipeline has no step(s) {', '.join(missing)}")
    with no_cyclic_gc():
        planner = _Planner(spec, inventory, dataflow, collection_max_length)
        if groups is not None:
            planner.planned_groups.update({name: list(found) for name, found in groups.items()})
        planner.already = list(delivered)
        return planner.plan()


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while planning (reference counting still frees everything).

    Planning allocates millions of small tuples and sets at data-release scale and makes no reference
    cycles; every collection the allocations trigger would walk the whole heap, more so in a process that
    holds other plans. Measured at full scale (bench/plan_scale.py): the re-plan went from 10.6 s to the
    figure in docs/benchmarks.md. Persisting a plan pauses it too (campaigns.services: 2.4 s of full
    collections). The collector's previous state is restored, also on an error; nesting is harmless.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
