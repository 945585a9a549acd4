"""The plan: plain dataclasses with an exact ``to_dict``/``from_dict`` round trip (what the Django side persists).

Made by :func:`~.planner.plan_campaign`; see :mod:`.planner` for the rules.
"""

from __future__ import annotations

import dataclasses
from typing import Any

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

    def to_dict(self) -> dict[str, Any]:
        """Return the site as JSON-able builtins (what ``dataclasses.asdict`` gives, see :meth:`Plan.to_dict`)."""
        return {"code": self.code, "share": self.share, "tracts": list(self.tracts), "visits": list(self.visits)}


@dataclasses.dataclass
class PlannedGroup:
    """One BPS submission: a step's slice of data at one site.

    ``visits``/``tracts`` list what the group covers; both empty for a
    global step (no restriction beyond the instrument). ``pixels`` holds the
    sky pixels of a regional (healpix) group, e.g. ``{"healpix3": [281]}``:
    its quanta are those pixels, given to the quantum-graph builder as a
    data-ID table of (pixel, visit, tract) rather than in ``data_query``
    (daf_butler cannot join a healpix dimension to visits and tracts in a
    query; see ``stack.pipetask.write_data_id_table``).
    """

    ordinal: int
    site: str
    data_query: str
    visits: list[int]
    tracts: list[int]
    pixels: dict[str, list[int]] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the group as JSON-able builtins (what ``dataclasses.asdict`` gives, see :meth:`Plan.to_dict`)."""
        return {"ordinal": self.ordinal, "site": self.site, "data_query": self.data_query,
                "visits": list(self.visits), "tracts": list(self.tracts),
                "pixels": {level: list(values) for level, values in self.pixels.items()}}


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
    #: pipetask's ``--dataset-query-constraint`` for the step's groups: "" (its default, every input) or
    #: "off" for a step that reads an input keyed by a sky pixel (healpix): daf_butler 30.2026.4300 cannot
    #: join that pixel to the visits and tracts of the same query; without the constraint the pixels come
    #: from the visits' regions and each quantum still finds its inputs.
    query_constraint: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the step as JSON-able builtins (what ``dataclasses.asdict`` gives, see :meth:`Plan.to_dict`)."""
        return {"name": self.name, "stage": self.stage, "order": self.order, "scope": self.scope,
                "level": self.level, "depends_on": list(self.depends_on), "memory_mb": self.memory_mb,
                "inputs": list(self.inputs), "outputs": list(self.outputs),
                "groups": [group.to_dict() for group in self.groups], "query_constraint": self.query_constraint}

    def sites(self) -> list[str]:
        """Return the sites that run groups of this step, in group order, once each."""
        return list(dict.fromkeys(group.site for group in self.groups))


@dataclasses.dataclass
class PlannedStage:
    """A stage and the names of its steps, in order."""

    name: str
    order: int
    steps: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Return the stage as JSON-able builtins (what ``dataclasses.asdict`` gives, see :meth:`Plan.to_dict`)."""
        return {"name": self.name, "order": self.order, "steps": list(self.steps)}


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

    def to_dict(self) -> dict[str, Any]:
        """Return the movement as JSON-able builtins (what ``dataclasses.asdict`` gives, see :meth:`Plan.to_dict`)."""
        return {"key": self.key, "kind": self.kind, "sources": list(self.sources), "destination": self.destination,
                "dataset_types": list(self.dataset_types), "collections": list(self.collections),
                "data_ids": {key: list(values) for key, values in self.data_ids.items()},
                "before_step": self.before_step, "after_steps": list(self.after_steps),
                "expected_count": self.expected_count, "after_movements": list(self.after_movements)}


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
        """Return the plan as JSON-able builtins (lists already in their stable order).

        Equal to ``dataclasses.asdict(self)``, lists and dicts copied, but built field by field: asdict
        deep-copies every int of the millions of data ids a data-release plan holds (11 s of the 47 s that
        persisting one took). A field added to a planned dataclass must be added to its ``to_dict`` too
        (tests/planning/test_plan_dict.py compares both).
        """
        return {"name": self.name, "hub": self.hub, "instrument": self.instrument, "skymap": self.skymap,
                "pipeline": self.pipeline, "output_prefix": self.output_prefix,
                "sites": [site.to_dict() for site in self.sites],
                "stages": [stage.to_dict() for stage in self.stages],
                "steps": [step.to_dict() for step in self.steps],
                "movements": [movement.to_dict() for movement in self.movements]}

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


#: What a group reads or writes of a dataset type: its restriction keys' values (a visit, tract, visit x tract...).
Piece = tuple[int, ...]
