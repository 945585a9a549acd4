"""Turn a campaign spec, a data inventory and a pipeline dataflow into a plan.

The plan says, per step, which site runs which groups (one BPS submission
each) and, as movements, what data has to reach which site before which
step. It is plain dataclasses; :meth:`Plan.to_dict` gives the JSON the
Django side persists and :meth:`Plan.from_dict` reads it back unchanged.

Rules (see ``docs/campaign-spec.md``):

* Tracts belong to sites (``tract_map``, or largest-remainder apportionment
  of the sorted tracts by share, in contiguous blocks in site order).
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
* Every input a step reads at a site that lives elsewhere becomes a movement
  restricted to the data IDs that site needs; movements with the same kind,
  source, destination, before-step and origin are merged (one movement per
  source site: a source that is down does not hold up the others' tracking).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from .dataflow import DatasetTypeInfo, PipelineDataflow
from .inventory import DataInventory, VisitInfo
from .query import conjoin, literal
from .regions import RegionError, choose_pixel_site, healpix_level_of, pixel_of
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
    to the site listed first), so the result is deterministic.
    """
    ordered = sorted(set(tracts))
    total_share = sum(share for _, share in shares)
    if not ordered or total_share <= 0:
        return {}
    quotas = [(code, len(ordered) * share / total_share) for code, share in shares]
    sizes = {code: int(quota) for code, quota in quotas}
    leftover = len(ordered) - sum(sizes.values())
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i][1] - int(quotas[i][1])), i))
    for index in by_remainder[:leftover]:
        sizes[quotas[index][0]] += 1
    owners: dict[int, str] = {}
    position = 0
    for code, _ in shares:
        for tract in ordered[position : position + sizes[code]]:
            owners[tract] = code
        position += sizes[code]
    return owners


def _chunks(values: Sequence[int], size: int | None) -> list[list[int]]:
    if not values:
        return []
    if size is None:
        return [list(values)]
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


def _in(dimension: str, values: Iterable[int]) -> str:
    return f"{dimension} IN ({', '.join(str(v) for v in values)})"


class _Planner:
    """One planning run; holds the ownership maps the rules below share."""

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
            self.tract_owner = apportion_tracts(known_tracts, [(s.code, s.share or 0.0) for s in spec.sites])
        if not self.tract_owner:
            raise PlanningError("no tracts to process: the inventory is empty or all shares are 0")
        self.visits: dict[int, VisitInfo] = {}
        self.visit_owner: dict[int, str] = {}
        self.visit_tracts: dict[int, tuple[int, ...]] = {}
        for info in inventory.visits():
            planned = tuple(t for t in info.tracts if t in self.tract_owner)
            if not planned:
                continue  # overlaps no planned tract: not part of this campaign
            self.visits[info.visit] = info
            self.visit_tracts[info.visit] = planned
            self.visit_owner[info.visit] = self.tract_owner[planned[0]]
        self.exposure_visit = {info.exposure: visit for visit, info in self.visits.items()}
        self._check_split_values()
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
        return sorted(t for t, owner in self.tract_owner.items() if owner == site)

    def site_visits(self, site: str) -> list[int]:
        return sorted(v for v, owner in self.visit_owner.items() if owner == site)

    def step_sites(self, step: str) -> list[str]:
        """Return the sites that run ``step`` (the hub for a global step)."""
        if self.level[step] == "global":
            return [self.hub]
        if self.level[step] == "healpix":
            return [site for site in self.sites if site in self.pixel_site[step].values()]
        return [site for site in self.sites if self.site_tracts(site)]

    def domain(self, step: str, site: str) -> tuple[set[int], set[int]]:
        """Return (visits, tracts) whose data ``step`` reads at ``site``."""
        level = self.level[step]
        if level == "global":
            return set(self.visits), set(self.tract_owner)
        if level == "healpix":
            return self.pixel_domain(step, {p for p, owner in self.pixel_site[step].items() if owner == site})
        if level == "tract":
            tracts = set(self.site_tracts(site))
            visits = {v for v, planned in self.visit_tracts.items() if tracts.intersection(planned)}
            return visits, tracts
        visits = set(self.site_visits(site))
        tracts = {t for v in visits for t in self.visit_tracts[v]}
        return visits, tracts

    def needed_ids(self, info: DatasetTypeInfo, step: str, site: str) -> set[int] | None:
        """Return the key values of ``info`` that ``step`` at ``site`` reads (None: all of it)."""
        key = info.key_dimension()
        visits, tracts = self.domain(step, site)
        if key == "exposure":
            return {self.visits[v].exposure for v in visits}
        if key == "visit":
            return visits
        if key == "tract":
            return tracts
        if key is not None and (pixel_level := healpix_level_of(key)) is not None:
            pixels = self.visit_pixels(pixel_level)
            return {pixels[v] for v in visits}
        return None

    def produced_at(self, info: DatasetTypeInfo, producer: str, value: int) -> str:
        """Return the site where ``producer`` writes the dataset of key value ``value``."""
        if self.level[producer] == "global":
            return self.hub
        key = info.key_dimension()
        if self.level[producer] == "healpix":
            placement = self.pixel_site[producer]
            if key is not None and healpix_level_of(key) is not None:
                return placement[value]
            level = healpix_level_of(self.healpix_dimension(producer))
            visit = self.exposure_visit.get(value, value) if key == "exposure" else value
            return placement[self.visit_pixels(level)[visit]]  # type: ignore[arg-type]
        if key == "tract":
            return self.tract_owner[value]
        visit = self.exposure_visit.get(value, value) if key == "exposure" else value
        return self.visit_owner[visit]

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
        instrument = f"instrument={literal(self.spec.instrument)}"
        if self.level[step.name] == "global":
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
        level = self.level[step.name]
        split = step.split or SplitSpec(by="tract" if level == "tract" else "visit")
        groups: list[PlannedGroup] = []
        for site in self.step_sites(step.name):
            visits, tracts = self.domain(step.name, site)
            if not visits:
                continue  # the site's tracts have no data for this step: it runs nothing of it
            if level == "tract":
                base = f"{skymap} AND {_in('tract', sorted(tracts))}"
            else:
                base = f"{instrument} AND {_in('visit', sorted(visits))}"
            slices: list[tuple[str, list[int], list[int]]] = []
            if split.by == "tract":
                for chunk in _chunks(self.site_tracts(site), split.max_size or 1):
                    if level == "tract":
                        chunk_visits = sorted(v for v in visits if set(self.visit_tracts[v]) & set(chunk))
                        slices.append((f"{skymap} AND {_in('tract', chunk)}", chunk_visits, chunk))
                    else:
                        chunk_visits = sorted(v for v in visits if self.visit_tracts[v][0] in chunk)
                        if chunk_visits:
                            slices.append((f"{instrument} AND {_in('visit', chunk_visits)}", chunk_visits, chunk))
            elif split.by in VISIT_SPLIT_KINDS:  # visit-level steps only: checked in __init__
                for chunk in _chunks(sorted(visits), split.max_size):
                    chunk_tracts = sorted({t for v in chunk for t in self.visit_tracts[v]})
                    if split.by == "exposure":
                        query = f"{instrument} AND {_in('exposure', [self.visits[v].exposure for v in chunk])}"
                    else:
                        query = f"{instrument} AND {_in('visit', chunk)}"
                    slices.append((query, chunk, chunk_tracts))
            elif split.by == "values":
                for value in split.values:
                    slices.append((conjoin([base, f"{split.dimension}={literal(value)}"]), sorted(visits),
                                   sorted(tracts)))
            else:  # query: parsed at spec validation, so in parentheses it is one operand
                slices.append((conjoin([base, split.query or ""]), sorted(visits), sorted(tracts)))
            for query, group_visits, group_tracts in slices:
                groups.append(PlannedGroup(len(groups) + 1, site, query, group_visits, group_tracts))
        return groups

    # -- movements -------------------------------------------------------------

    def movements(self) -> list[PlannedMovement]:
        needs: dict[tuple, dict[str, Any]] = {}
        delivered: dict[tuple[str, str], set[int] | None] = defaultdict(set)
        defaults = self.spec.default_dataset_types()

        def add(
            merge_key: tuple, dataset_type: str, info: DatasetTypeInfo, ids: set[int] | None, **fields: Any
        ) -> None:
            entry = needs.setdefault(
                merge_key, {"dataset_types": {}, "data_ids": defaultdict(set), "after_steps": set(), **fields}
            )
            entry["dataset_types"][dataset_type] = info
            key = info.key_dimension()
            if ids is not None and key is not None:
                entry["data_ids"][key].update(ids)
            entry["after_steps"].update(fields.get("producers", ()))
            entry["collections"] = sorted(set(entry.get("collections", ())) | set(fields.get("collections", ())))

        for step in self.steps:
            flow = self.dataflow.steps[step.name]
            for site in self.step_sites(step.name):
                for dataset_type, info in flow.inputs.items():
                    producer = self.producer_of(dataset_type, step.name)
                    needed = self.needed_ids(info, step.name, site)
                    already = delivered[(site, dataset_type)]
                    if producer is None:
                        if site == self.hub:
                            continue  # inputs and defaults live at the hub
                        origin = "defaults" if dataset_type in defaults else "inputs"
                        if already is None:
                            continue
                        ids = None if needed is None else needed - already
                        if ids is not None and not ids:
                            continue
                        delivered[(site, dataset_type)] = None if ids is None else already | ids
                        collections = (
                            [
                                c
                                for entry in self.spec.defaults
                                if dataset_type in entry.dataset_types
                                for c in entry.collections
                            ]
                            if origin == "defaults"
                            else list(self.spec.input_collections)
                        )
                        add(
                            ("setup", (self.hub,), site, step.name, origin),
                            dataset_type, info, ids,
                            kind="setup", sources=[self.hub], destination=site, before_step=step.name,
                            collections=collections, origin=origin,
                        )  # fmt: skip
                        continue
                    if self.level[step.name] == "global":
                        kind = "fan_in"
                    elif self.level[producer] == "global":
                        kind = "fan_out"
                    else:
                        kind = "exchange"
                    collections = [f"{self.spec.output_prefix}/{producer}"]
                    if needed is None:
                        if already is None:
                            continue
                        sources = [s for s in self.step_sites(producer) if s != site]
                        for source in sources:
                            add(
                                (kind, (source,), site, step.name, "products"),
                                dataset_type, info, None,
                                kind=kind, sources=[source], destination=site, before_step=step.name,
                                collections=collections, producers=[producer],
                            )  # fmt: skip
                        delivered[(site, dataset_type)] = None
                        continue
                    by_source: dict[str, set[int]] = defaultdict(set)
                    for value in sorted(needed - already):
                        source = self.produced_at(info, producer, value)
                        if source != site:
                            by_source[source].add(value)
                    for source, ids in by_source.items():
                        add(
                            (kind, (source,), site, step.name, "products"),
                            dataset_type, info, ids,
                            kind=kind, sources=[source], destination=site, before_step=step.name,
                            collections=collections, producers=[producer],
                        )  # fmt: skip
                    delivered[(site, dataset_type)] = already | needed

        self._add_returns(add)
        movements = [self._movement(entry) for entry in needs.values()]
        movements.sort(key=self._sort_key)
        self._add_archive(movements)
        return movements

    def _add_returns(self, add: Any) -> None:
        wanted = list(dict.fromkeys([*self.spec.outputs.return_, *self.spec.outputs.archive]))
        for dataset_type in wanted:
            producer = self.producer_of(dataset_type, None)
            if producer is None or self.level[producer] == "global":
                continue
            info = self.dataflow.steps[producer].outputs[dataset_type]
            for site in self.step_sites(producer):
                if site == self.hub:
                    continue
                visits, tracts = self.domain(producer, site)
                key = info.key_dimension()
                ids: set[int] | None
                if self.level[producer] == "healpix":
                    ids = self.needed_ids(info, producer, site)
                elif key == "tract":
                    ids = set(self.site_tracts(site))
                elif key == "visit":
                    ids = {v for v in visits if self.visit_owner[v] == site}
                elif key == "exposure":
                    ids = {self.visits[v].exposure for v in visits if self.visit_owner[v] == site}
                else:
                    ids = None
                add(
                    ("return", (site,), self.hub, None, "products"),
                    dataset_type, info, ids,
                    kind="return", sources=[site], destination=self.hub, before_step=None,
                    collections=[f"{self.spec.output_prefix}/{producer}"], producers=[producer],
                )  # fmt: skip

    def _add_archive(self, movements: list[PlannedMovement]) -> None:
        archive = list(dict.fromkeys(self.spec.outputs.archive))
        if not archive:
            return
        producers = sorted(
            {p for name in archive if (p := self.producer_of(name, None)) is not None}, key=self.order.__getitem__
        )
        sources = sorted({site for p in producers for site in self.step_sites(p)}, key=self.sites.index)
        returns = [m.key for m in movements if m.kind == "return" and set(m.dataset_types) & set(archive)]
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

    def _movement(self, entry: dict[str, Any]) -> PlannedMovement:
        types: dict[str, DatasetTypeInfo] = entry["dataset_types"]
        data_ids = {key: sorted(values) for key, values in sorted(entry["data_ids"].items()) if values}
        count: int | None = 0
        for info in types.values():
            key = info.key_dimension()
            if key is None or key not in data_ids:
                count = None
                break
            count += len(data_ids[key])  # type: ignore[operator]
        if count is not None and not data_ids:
            count = None
        after_steps = sorted(entry["after_steps"], key=self.order.__getitem__)
        anchor = entry["before_step"] or f"after-{after_steps[-1] if after_steps else 'end'}"
        key = f"{entry['kind']}:{'+'.join(entry['sources'])}>{entry['destination']}:{anchor}"
        if entry["kind"] == "setup":
            key += f":{entry['origin']}"
        return PlannedMovement(
            key=key,
            kind=entry["kind"],
            sources=list(entry["sources"]),
            destination=entry["destination"],
            dataset_types=sorted(types),
            collections=list(entry["collections"]),
            data_ids=data_ids,
            before_step=entry["before_step"],
            after_steps=after_steps,
            expected_count=count,
        )

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
            groups = self.groups(step)
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
                PlannedSite(site, shares.get(site), self.site_tracts(site), self.site_visits(site))
                for site in self.sites
            ],
            stages=[
                PlannedStage(stage.name, order, [step.name for step in stage.steps])
                for order, stage in enumerate(self.spec.stages, start=1)
            ],
            steps=steps,
            movements=self.movements(),
        )


def plan_campaign(spec: CampaignSpec, inventory: DataInventory, dataflow: PipelineDataflow, *,
                  collection_max_length: int | None = None) -> Plan:
    """Return the plan of ``spec`` over the data in ``inventory``.

    ``dataflow`` must describe every step of the spec (see
    :func:`msproc.lib.planning.spec.load_spec`, which validates that).

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
    return _Planner(spec, inventory, dataflow, collection_max_length).plan()
