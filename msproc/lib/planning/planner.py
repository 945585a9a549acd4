"""Turn a campaign spec, a data inventory and a pipeline dataflow into a plan.

The plan says, per step, which site runs which groups (one BPS submission
each) and, as movements, what data has to reach which site before which
step. It is plain dataclasses; :meth:`Plan.to_dict` gives the JSON the
Django side persists and :meth:`Plan.from_dict` reads it back unchanged.

Rules (see ``docs/campaign-spec.md``):

* Tracts belong to sites (``tract_map``, or by shares with the
  ``tract_assignment`` rule of :mod:`~msproc.lib.planning.assignment`:
  compact sky regions when the inventory knows the tracts' centres, else
  contiguous blocks of the sorted ids in site order).
* A visit is processed by the site owning the lowest-numbered of the
  planned tracts it overlaps; another site whose tracts it overlaps gets its
  visit-level products by a movement.
* Step level (:func:`~msproc.lib.planning.spec.step_level`): a step whose
  tasks have a ``tract`` dimension runs per tract at the tract owners; one
  with ``visit``/``exposure`` runs per visit at the visit owners; a global
  step runs once at the hub over everything. A tract-level step split by
  ``visit``/``exposure`` is a spec error (``steps[N].split.by``), not a
  silent tract split.
* A regional step (sharded by ``healpixN`` in the pipeline's ``steps:``)
  runs one group per sky pixel that holds data, at the site holding most of
  its inputs (ties: the hub); see :mod:`msproc.lib.planning.regions`.
* Groups hold exactly the data they process: ``values``/``query`` splits are
  evaluated against the inventory (:mod:`.selection`); a group with no visit
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
  different values of one data-ID key.

* Inputs must match data: a ``tract_map`` tract the inventory does not
  have, a split value of ``visit``/``exposure``/``tract``/``band`` it does
  not have, and a step that would get no group at all are spec errors at
  their path (``tract_map.9496``, ``steps[3].split.values[1]``,
  ``steps[3]``): a campaign that cannot finish is refused, not planned.
* A group's data query is the planner's restriction AND the user's
  fragment in parentheses (:func:`~msproc.lib.planning.query.conjoin`); the
  fragment was parsed by daf_butler's parser when the spec was read, so it
  cannot widen the restriction. Collections are checked against Butler's
  length limit with the group ordinals known.

Every step is linear in the inventory: tract -> visits and piece -> producing
site indexes, never a scan of all visits per group.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from .assignment import assign_tracts, id_block_tracts
from .dataflow import DatasetTypeInfo, PipelineDataflow
from .inventory import DataInventory, VisitInfo, inventory_arrays
from .query import conjoin, literal
from .regions import RegionError, choose_pixel_site, healpix_level_of, pixel_of
from .selection import Predicate, compile_split
from .spec import (
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

#: Movement kinds, in the order they are listed for one step.
#: ``exchange`` is a site-to-site move between two wide steps (e.g. the
#: calibrated_pvi of a visit owned by one site that a coadd at another needs).
MOVEMENT_KINDS = ("setup", "fan_in", "fan_out", "exchange", "return", "archive")


class PlanningError(Exception):
    """The spec, inventory and dataflow do not make a plan (e.g. no tracts at all)."""


@dataclasses.dataclass
class PlannedSite:
    """A participating site: its share, the tracts it owns and the visits it processes."""

    code: str
    share: float | None
    tracts: list[int]
    visits: list[int]


@dataclasses.dataclass
class PlannedGroup:
    """One BPS submission: a step's slice of data at one site.

    ``visits``/``tracts`` list what the group covers; both empty for a
    global step (no restriction beyond the instrument).
    """

    ordinal: int
    site: str
    data_query: str
    visits: list[int]
    tracts: list[int]


@dataclasses.dataclass
class PlannedStep:
    """A step with its place in the campaign, its dataflow and its groups."""

    name: str
    stage: str
    order: int
    scope: str
    level: str
    depends_on: list[str]
    memory_mb: int
    inputs: list[str]
    outputs: list[str]
    groups: list[PlannedGroup]

    def sites(self) -> list[str]:
        """Return the sites that run groups of this step, in group order, once each."""
        return list(dict.fromkeys(group.site for group in self.groups))


@dataclasses.dataclass
class PlannedStage:
    """A stage and the names of its steps, in order."""

    name: str
    order: int
    steps: list[str]


@dataclasses.dataclass
class PlannedMovement:
    """Data that has to reach ``destination`` (and be ingested there).

    ``data_ids`` restricts each dataset type by the data-ID key among its
    dimensions (``exposure``, ``visit`` or ``tract``); a dataset type with
    none of those keys moves whole. ``{}`` means no restriction at all.
    ``before_step`` is the step at the destination that waits for it (None
    for return/archive); ``after_steps`` the steps whose outputs it carries;
    ``after_movements`` the movements that must be done first (archive after
    the returns). ``expected_count`` counts (dataset type, key value) pairs
    for restricted movements (None when any dataset type moves whole).
    """

    key: str
    kind: str
    sources: list[str]
    destination: str
    dataset_types: list[str]
    collections: list[str]
    data_ids: dict[str, list[int]]
    before_step: str | None
    after_steps: list[str]
    expected_count: int | None
    after_movements: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Plan:
    """The whole campaign plan; ``to_dict``/``from_dict`` round-trip exactly."""

    name: str
    hub: str
    instrument: str
    skymap: str
    pipeline: str
    output_prefix: str
    sites: list[PlannedSite]
    stages: list[PlannedStage]
    steps: list[PlannedStep]
    movements: list[PlannedMovement]

    def to_dict(self) -> dict[str, Any]:
        """Return the plan as JSON-able builtins (lists already in their stable order)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """Return the plan stored by :meth:`to_dict`.

        Raises:
            KeyError, TypeError: ``data`` is not a plan dict.
        """
        fields = dict(data)
        fields["sites"] = [PlannedSite(**site) for site in data["sites"]]
        fields["stages"] = [PlannedStage(**stage) for stage in data["stages"]]
        fields["steps"] = [
            PlannedStep(**{**step, "groups": [PlannedGroup(**group) for group in step["groups"]]})
            for step in data["steps"]
        ]
        fields["movements"] = [
            PlannedMovement(**{**movement, "data_ids": {k: list(v) for k, v in movement["data_ids"].items()}})
            for movement in data["movements"]
        ]
        return cls(**fields)

    def step(self, name: str) -> PlannedStep:
        """Return the step called ``name``.

        Raises:
            KeyError: no such step.
        """
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def movements_to(self, site: str) -> list[PlannedMovement]:
        """Return the movements whose destination is ``site``, in plan order."""
        return [movement for movement in self.movements if movement.destination == site]

    def groups_at(self, site: str) -> list[tuple[PlannedStep, PlannedGroup]]:
        """Return (step, group) for every group that runs at ``site``, in plan order."""
        return [(step, group) for step in self.steps for group in step.groups if group.site == site]


def apportion_tracts(tracts: Iterable[int], shares: Sequence[tuple[str, float]]) -> dict[int, str]:
    """Return tract -> site, giving each site a contiguous block of the sorted tracts.

    Block sizes follow the shares by largest-remainder apportionment (ties go
    to the site listed first), so the result is deterministic. The ``id_blocks``
    rule of :mod:`msproc.lib.planning.assignment`.
    """
    return id_block_tracts(tracts, shares)


def _chunks(values: Sequence[int], size: int | None) -> list[list[int]]:
    if not values:
        return []
    if size is None:
        return [list(values)]
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


def _in(dimension: str, values: Iterable[int]) -> str:
    return f"{dimension} IN ({', '.join(str(v) for v in values)})"


Piece = tuple[int, ...]


class _Planner:
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
        for info in inventory.visits():
            planned = tuple(t for t in info.tracts if t in self.tract_owner)
            if not planned:
                continue  # overlaps no planned tract: not part of this campaign
            self.visits[info.visit] = info
            self.visit_tracts[info.visit] = planned
            self.visit_owner[info.visit] = self.tract_owner[planned[0]]
            for tract in planned:
                self.tract_visits[tract].append(info.visit)
        self.exposure_visit = {info.exposure: visit for visit, info in self.visits.items()}
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
        self._produced: dict[tuple[str, str], dict[Piece, str] | None] = {}
        self._pixels: dict[int, dict[int, int]] = {}
        #: regional step -> pixel -> the site running that pixel's group
        self.pixel_site: dict[str, dict[int, str]] = {}
        for step in self.steps:
            if self.level[step.name] == "healpix":
                self.pixel_site[step.name] = self._place_pixels(step.name)

    # -- regional steps ----------------------------------------------------------

    def healpix_dimension(self, step: str) -> str:
        """Return the ``healpixN`` dimension a regional step is sharded by."""
        flow = self.dataflow.steps[step]
        return next(d for d in flow.sharding or () if healpix_level_of(d) is not None)

    def visit_pixels(self, level: int) -> dict[int, int]:
        """Return visit -> its ``healpix{level}`` pixel (centre), for every planned visit."""
        if level not in self._pixels:
            try:
                self._pixels[level] = {visit: pixel_of(info, level) for visit, info in self.visits.items()}
            except RegionError as err:
                raise PlanningError(str(err)) from err
        return self._pixels[level]

    def pixel_domain(self, step: str, pixels: set[int]) -> tuple[set[int], set[int]]:
        """Return (visits, tracts) of the pixels ``pixels`` of a regional step."""
        level = healpix_level_of(self.healpix_dimension(step))
        visits = {v for v, pixel in self.visit_pixels(level).items() if pixel in pixels}  # type: ignore[arg-type]
        return visits, {t for v in visits for t in self.visit_tracts[v]}

    def _place_pixels(self, step: str) -> dict[int, str]:
        level = healpix_level_of(self.healpix_dimension(step))
        pixels = sorted(set(self.visit_pixels(level).values()))  # type: ignore[arg-type]
        produced_inputs = [
            info for name, info in self.dataflow.steps[step].inputs.items() if self.producer_of(name, step) is not None
        ]
        placement = {}
        for pixel in pixels:
            visits, tracts = self.pixel_domain(step, {pixel})
            placement[pixel] = choose_pixel_site(
                produced_inputs, visits, tracts, self.visit_owner, self.tract_owner, self.sites, self.hub
            )
        return placement

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

    def row(self, visit: int, tract: int) -> dict[str, Any]:
        info = self.visits[visit]
        return {"instrument": self.spec.instrument, "skymap": self.spec.skymap, "visit": visit,
                "exposure": info.exposure, "band": info.band, "tract": tract}

    def pieces(self, info: DatasetTypeInfo, group: PlannedGroup) -> set[Piece] | None:
        """Return the pieces of ``info`` that ``group`` reads or writes (None: the dataset type moves whole).

        A piece is the tuple of the dataset type's restriction keys
        (:meth:`DatasetTypeInfo.restriction_keys`): ``(exposure,)``,
        ``(visit,)``, ``(tract,)`` or ``(visit, tract)`` for a visit-and-tract
        type, whose pairs are the group's visits each with the group's tracts
        it overlaps.
        """
        keys = info.restriction_keys()
        if not keys:
            return None
        if not group.visits and not group.tracts:  # a global group: everything
            group = PlannedGroup(group.ordinal, group.site, group.data_query, sorted(self.visits),
                                 sorted(self.tract_visits))
        tracts = set(group.tracts)
        if keys == ("tract",):
            return {(t,) for t in group.tracts}
        if len(keys) == 1 and (level := healpix_level_of(keys[0])) is not None:
            pixels = self.visit_pixels(level)
            return {(pixels[v],) for v in group.visits}
        if len(keys) == 1:
            if keys[0] == "exposure":
                return {(self.visits[v].exposure,) for v in group.visits}
            return {(v,) for v in group.visits}
        visit_of = (lambda v: self.visits[v].exposure) if keys[0] == "exposure" else (lambda v: v)
        return {(visit_of(v), t) for v in group.visits for t in self.visit_tracts[v] if t in tracts}

    def produced(self, producer: str, dataset_type: str) -> dict[Piece, str] | None:
        """Return piece -> the site whose group of ``producer`` writes it (None: a whole dataset type)."""
        cache_key = (producer, dataset_type)
        if cache_key not in self._produced:
            info = self.dataflow.steps[producer].outputs[dataset_type]
            where: dict[Piece, str] | None = {}
            for group in self.planned_groups[producer]:
                made = self.pieces(info, group)
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
            for ordinal, pixel in enumerate(ordered, start=1):
                visits, tracts = self.pixel_domain(step.name, {pixel})
                query = f"{instrument} AND {dimension} = {pixel}"
                regional.append(PlannedGroup(ordinal, placement[pixel], query, sorted(visits), sorted(tracts)))
            return regional
        skymap = f"skymap={literal(self.spec.skymap)}"
        split = step.split or SplitSpec(by="tract" if level == "tract" else "visit")
        keep = self.filters.get(step.name)
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
                        owned = sorted(v for t in chunk for v in self.tract_visits[t] if self.visit_tracts[v][0] == t)
                        visits, kept = visit_slice(owned)
                        add(site, f"{instrument} AND {_in('visit', visits)}", visits, kept)
            elif split.by in VISIT_SPLIT_KINDS:  # visit-level steps only: checked in __init__
                for chunk in _chunks(self.site_visits(site), split.max_size):
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
                         compile_split("values", values=(value,), dimension=split.dimension))
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

    # -- movements -------------------------------------------------------------

    def movements(self) -> list[PlannedMovement]:
        """Return every movement: what each site reads that it does not make, then returns and archive.

        Needs are collected per (kind, source, destination, before-step,
        origin) and per dataset type as pieces; each such entry becomes one
        movement, or several when its dataset types would need different
        data-ID restrictions (see :meth:`_partition`).
        """
        entries: dict[tuple, dict[str, Any]] = {}
        delivered: dict[tuple[str, str], set[Piece] | None] = defaultdict(set)
        for movement in self.already:
            for dataset_type in movement.dataset_types:
                slot = (movement.destination, dataset_type)
                pieces = self._carried(dataset_type, movement)
                delivered[slot] = None if pieces is None or delivered[slot] is None else delivered[slot] | pieces
        defaults = self.spec.default_dataset_types()

        def add(merge_key: tuple, dataset_type: str, info: DatasetTypeInfo, pieces: set[Piece] | None,
                producer: str | None, collections: list[str], **fields: Any) -> None:
            entry = entries.setdefault(merge_key, {"types": {}, **fields})
            _, current, _, current_collections = entry["types"].get(dataset_type, (info, set(), producer, []))
            merged = None if pieces is None or current is None else current | pieces
            entry["types"][dataset_type] = (info, merged, producer,
                                            sorted(set(current_collections) | set(collections)))

        for step in self.steps:
            flow = self.dataflow.steps[step.name]
            by_site: dict[str, list[PlannedGroup]] = defaultdict(list)
            for group in self.planned_groups[step.name]:
                by_site[group.site].append(group)
            for site, site_groups in by_site.items():
                for dataset_type, info in flow.inputs.items():
                    already = delivered[(site, dataset_type)]
                    if already is None:
                        continue  # it arrived whole before
                    needed: set[Piece] | None = set()
                    for group in site_groups:
                        read = self.pieces(info, group)
                        if read is None:
                            needed = None
                            break
                        needed |= read
                    producer = self.producer_of(dataset_type, step.name)
                    if producer is None:
                        if site == self.hub:
                            continue  # inputs and defaults live at the hub
                        origin = "defaults" if dataset_type in defaults else "inputs"
                        missing = None if needed is None else needed - already
                        if missing is not None and not missing:
                            continue
                        delivered[(site, dataset_type)] = None if missing is None else already | missing
                        collections = (
                            [c for entry in self.spec.defaults if dataset_type in entry.dataset_types
                             for c in entry.collections]
                            if origin == "defaults" else list(self.spec.input_collections)
                        )
                        add(("setup", self.hub, site, step.name, origin), dataset_type, info, missing, None,
                            collections, kind="setup", source=self.hub, destination=site, before_step=step.name,
                            origin=origin)
                        continue
                    if self.level[step.name] == "global":
                        kind = "fan_in"
                    elif self.level[producer] == "global":
                        kind = "fan_out"
                    else:
                        kind = "exchange"
                    collections = [f"{self.spec.output_prefix}/{producer}"]
                    made = self.produced(producer, dataset_type)
                    if needed is None or made is None:
                        for source in self.producer_sites(producer):
                            if source != site:
                                add((kind, source, site, step.name, "products"), dataset_type, info, None, producer,
                                    collections, kind=kind, source=source, destination=site, before_step=step.name,
                                    origin="products")
                        delivered[(site, dataset_type)] = None
                        continue
                    by_source: dict[str, set[Piece]] = defaultdict(set)
                    for piece in needed - already:
                        source = made.get(piece)
                        if source is not None and source != site:  # a piece no group makes is not read
                            by_source[source].add(piece)
                    for source, pieces in by_source.items():
                        add((kind, source, site, step.name, "products"), dataset_type, info, pieces, producer,
                            collections, kind=kind, source=source, destination=site, before_step=step.name,
                            origin="products")
                    delivered[(site, dataset_type)] = already | needed

        self._add_returns(add, delivered)
        movements = [movement for entry in entries.values() for movement in self._partition(entry)]
        movements.sort(key=self._sort_key)
        self._add_archive(movements)
        return movements

    def _add_returns(self, add: Any, delivered: dict[tuple[str, str], set[Piece] | None]) -> None:
        """Return each wanted output to the hub from the site whose group produced each piece of it."""
        wanted = list(dict.fromkeys([*self.spec.outputs.return_, *self.spec.outputs.archive]))
        for dataset_type in wanted:
            producer = self.producer_of(dataset_type, None)
            if producer is None or self.level[producer] == "global":
                continue
            info = self.dataflow.steps[producer].outputs[dataset_type]
            collections = [f"{self.spec.output_prefix}/{producer}"]
            made = self.produced(producer, dataset_type)
            already = delivered[(self.hub, dataset_type)]
            if already is None:
                continue  # the hub received it whole for one of its own steps
            by_source: dict[str, set[Piece] | None] = {}
            if made is None:
                by_source = {site: None for site in self.producer_sites(producer)}
            else:
                for piece, site in made.items():
                    if piece not in already:
                        by_source.setdefault(site, set()).add(piece)  # type: ignore[union-attr]
            for site, pieces in by_source.items():
                if site != self.hub:
                    add(("return", site, self.hub, None, "products"), dataset_type, info, pieces, producer,
                        collections, kind="return", source=site, destination=self.hub, before_step=None,
                        origin="products")

    def _add_archive(self, movements: list[PlannedMovement]) -> None:
        archive = list(dict.fromkeys(self.spec.outputs.archive))
        if not archive:
            return
        producers = sorted(
            {p for name in archive if (p := self.producer_of(name, None)) is not None}, key=self.order.__getitem__
        )
        sources = sorted({site for p in producers for site in self.producer_sites(p)}, key=self.sites.index)
        returns = [m.key for m in [*self.already, *movements]
                   if m.kind == "return" and set(m.dataset_types) & set(archive)]
        if not returns:
            return  # the archive zips what returns to the hub: with nothing returned there is nothing to archive
        movements.append(
            PlannedMovement(
                key=f"archive:{self.hub}:after-{producers[-1] if producers else 'end'}",
                kind="archive",
                sources=sources,
                destination=self.hub,
                dataset_types=sorted(archive),
                collections=[f"{self.spec.output_prefix}/{p}" for p in producers],
                data_ids={},
                before_step=None,
                after_steps=producers,
                expected_count=None,
                after_movements=returns,
            )
        )

    def _carried(self, dataset_type: str, movement: PlannedMovement) -> set[Piece] | None:
        """Return the pieces of ``dataset_type`` a movement carries (None: all of it)."""
        info = self.dataflow.dataset_type(dataset_type)
        keys = info.restriction_keys() if info is not None else ()
        if not keys or not all(movement.data_ids.get(key) for key in keys):
            return None
        if len(keys) == 1:
            return {(value,) for value in movement.data_ids[keys[0]]}
        tracts = set(movement.data_ids["tract"])
        pieces: set[Piece] = set()
        for value in movement.data_ids[keys[0]]:
            visit = self.exposure_visit.get(value, value) if keys[0] == "exposure" else value
            pieces.update((value, t) for t in self.visit_tracts.get(visit, ()) if t in tracts)
        return pieces

    @staticmethod
    def _restriction(info: DatasetTypeInfo, pieces: set[Piece] | None) -> dict[str, set[int]]:
        keys = info.restriction_keys()
        if pieces is None:
            return {}
        return {key: {piece[index] for piece in pieces} for index, key in enumerate(keys)}

    def _partition(self, entry: dict[str, Any]) -> list[PlannedMovement]:
        """Return the movements of one entry: its dataset types, cut where their data IDs differ.

        A movement restricts each of its dataset types by every key of its
        ``data_ids`` among that type's dimensions, so two dataset types that
        need different values of one key cannot share a movement. The first
        part keeps the entry's key; a further part is keyed by its anchor or,
        failing that, by its first dataset type.
        """
        parts: list[dict[str, Any]] = []
        for name, (info, pieces, producer, collections) in sorted(entry["types"].items()):
            restriction = self._restriction(info, pieces)
            for part in parts:
                if all(part["data_ids"].get(key, values) == values for key, values in restriction.items()):
                    break
            else:
                part = {"types": {}, "data_ids": {}, "count": 0, "producers": set(), "collections": set()}
                parts.append(part)
            part["types"][name] = info
            part["data_ids"].update(restriction)
            part["count"] = None if pieces is None or part["count"] is None else part["count"] + len(pieces)
            if producer is not None:
                part["producers"].add(producer)
            part["collections"].update(collections)
        movements: list[PlannedMovement] = []
        used: set[str] = set()
        for part in parts:
            after_steps = sorted(part["producers"], key=self.order.__getitem__)
            anchor = entry["before_step"] or f"after-{after_steps[-1] if after_steps else 'end'}"
            key = f"{entry['kind']}:{entry['source']}>{entry['destination']}:{anchor}"
            if entry["kind"] == "setup":
                key += f":{entry['origin']}"
            if key in used:
                key += f":{min(part['types'])}"
            used.add(key)
            data_ids = {key_: sorted(values) for key_, values in sorted(part["data_ids"].items()) if values}
            count = part["count"] if data_ids else None
            collections = part["collections"]
            movements.append(PlannedMovement(
                key=key, kind=entry["kind"], sources=[entry["source"]], destination=entry["destination"],
                dataset_types=sorted(part["types"]), collections=sorted(collections), data_ids=data_ids,
                before_step=entry["before_step"], after_steps=after_steps, expected_count=count,
            ))
        return movements

    def _sort_key(self, movement: PlannedMovement) -> tuple:
        anchor = self.order[movement.before_step] if movement.before_step else len(self.steps) + 1
        return (
            anchor,
            MOVEMENT_KINDS.index(movement.kind),
            self.sites.index(movement.destination),
            [self.sites.index(s) for s in movement.sources],
            movement.key,
        )

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
                )
            )
        errors = empty + collection_errors(self.spec, {step.name: len(step.groups) for step in steps},
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
    collection_max_length: int | None = None,
) -> Plan:
    """Return the plan of ``spec`` over the data in ``inventory``.

    ``dataflow`` must describe every step of the spec (see
    :func:`msproc.lib.planning.spec.load_spec`, which validates that).

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
            group; collections longer than ``collection_max_length`` (None:
            not checked), at ``output_prefix`` or ``name``.
    """
    missing = [step.name for step in spec.steps if step.name not in dataflow.steps]
    if missing:
        raise PlanningError(f"the pipeline has no step(s) {', '.join(missing)}")
    planner = _Planner(spec, inventory, dataflow, collection_max_length)
    if groups is not None:
        planner.planned_groups.update({name: list(found) for name, found in groups.items()})
    planner.already = list(delivered)
    return planner.plan()


def reassigned_groups(
    plan: Plan, lost: str, to: str, done: Collection[tuple[str, int]], *, remake: bool
) -> tuple[dict[str, list[PlannedGroup]], list[tuple[str, PlannedGroup, int]]]:
    """Return the groups of ``plan`` once the groups of site ``lost`` go to site ``to``.

    A group of ``lost`` not yet done (``done`` holds (step, ordinal) of the
    accepted ones) moves to ``to`` unchanged. A done group keeps its outputs at
    ``lost``: with ``remake`` it is replaced by a new group at ``to`` (the next
    free ordinal of its step) that makes them again, else it stays and its
    outputs are moved from ``lost`` once it is back. Global groups never move.

    Returns (step -> groups, [(step, new group, ordinal of the group it remakes)]).
    """
    result: dict[str, list[PlannedGroup]] = {}
    remade: list[tuple[str, PlannedGroup, int]] = []
    for step in plan.steps:
        groups: list[PlannedGroup] = []
        next_ordinal = max((group.ordinal for group in step.groups), default=0) + 1
        for group in step.groups:
            if group.site != lost or step.level == "global":
                groups.append(group)
            elif (step.name, group.ordinal) not in done:
                groups.append(dataclasses.replace(group, site=to))
            elif remake:
                new = dataclasses.replace(group, site=to, ordinal=next_ordinal)
                next_ordinal += 1
                groups.append(new)
                remade.append((step.name, new, group.ordinal))
            else:
                groups.append(group)
        result[step.name] = groups
    return result, remade
