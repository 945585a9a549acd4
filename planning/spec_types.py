"""The campaign spec's typed form: dataclasses built by :func:`~.spec.parse_spec`, and its errors."""

from __future__ import annotations

import dataclasses
from typing import Any

from .assignment import VISIT_ASSIGNMENTS

SHARE_TOLERANCE = 1e-6
SPLIT_KINDS = ("tract", "visit", "exposure", "values", "query")
#: Split kinds that cut a step's visits into runs: only for visit-level steps.
VISIT_SPLIT_KINDS = ("visit", "exposure")
SCOPES = ("wide", "global")


@dataclasses.dataclass(frozen=True)
class FieldError:
    """One problem in a spec: where (``path``, ``""`` for the whole document) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(ValueError):
    """A spec is invalid; ``errors`` lists every problem found, in document order."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


@dataclasses.dataclass(frozen=True)
class SiteSpec:
    """A participating site and its share of the tracts (None when a tract_map is used)."""

    code: str
    share: float | None = None


@dataclasses.dataclass(frozen=True)
class SplitSpec:
    """How a wide step is cut into groups (one BPS submission each).

    ``by``: ``tract`` (``max_size`` tracts per group, default 1), ``visit`` /
    ``exposure`` (runs of at most ``max_size`` of the site's visits; visit-level
    steps only, see :func:`step_level`), ``values`` (one group per value of
    ``dimension``), ``query`` (one group restricted by ``query``).
    """

    by: str
    max_size: int | None = None
    values: tuple[str | int, ...] = ()
    dimension: str = "band"
    query: str | None = None


@dataclasses.dataclass(frozen=True)
class StepSpec:
    """One step of the campaign: a pipeline subset label and how to run it.

    ``scope`` is None unless the spec forces one (``wide``/``global``): the
    pipeline's ``steps:`` section (or its tasks' dimensions) decides.
    ``depends_on`` lists only the spec's extra dependencies; the planner adds
    the dataflow's (see :mod:`planning.structure`).
    """

    name: str
    stage: str
    scope: str | None
    split: SplitSpec | None
    memory_mb: int
    depends_on: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class StageSpec:
    """An ordered group of steps."""

    name: str
    steps: tuple[StepSpec, ...]


@dataclasses.dataclass(frozen=True)
class DefaultsSpec:
    """Dataset types every site needs before stage 1 and where the hub has them."""

    dataset_types: tuple[str, ...]
    collections: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class OutputsSpec:
    """Dataset types returned to the hub and archived to tape at the hub."""

    return_: tuple[str, ...] = ()
    archive: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class CampaignSpec:
    """A validated campaign spec."""

    name: str
    pipeline: str
    hub: str
    instrument: str
    skymap: str
    sites: tuple[SiteSpec, ...]
    tract_map: dict[int, str] | None
    stages: tuple[StageSpec, ...]
    input_collections: tuple[str, ...]
    input_dataset_types: tuple[str, ...]
    defaults: tuple[DefaultsSpec, ...]
    outputs: OutputsSpec
    output_prefix: str
    #: How shares become tracts per site (:data:`planning.assignment.ASSIGNMENTS`).
    tract_assignment: str = "compact"
    #: Which site processes a visit whose tracts several sites own (:data:`planning.assignment.VISIT_ASSIGNMENTS`).
    visit_assignment: str = VISIT_ASSIGNMENTS[0]
    #: Where the output prefix comes from: ``output_prefix``, or ``name`` when it is the default.
    output_prefix_path: str = dataclasses.field(default="output_prefix", compare=False, repr=False)
    #: step name -> its path in the document (``steps[3]``), for error messages.
    step_paths: dict[str, str] = dataclasses.field(default_factory=dict, compare=False, repr=False)
    #: step name -> where the stages place it (``stages[1].steps[0]``), for step-order errors.
    stage_paths: dict[str, str] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @property
    def steps(self) -> tuple[StepSpec, ...]:
        """Return every step in stage order."""
        return tuple(step for stage in self.stages for step in stage.steps)

    @property
    def site_codes(self) -> tuple[str, ...]:
        """Return the participating site codes, in spec order."""
        return tuple(site.code for site in self.sites)

    def shares(self) -> dict[str, float]:
        """Return site code -> share (0.0 for sites without one)."""
        return {site.code: site.share or 0.0 for site in self.sites}

    def default_dataset_types(self) -> set[str]:
        """Return every dataset type listed under ``defaults``."""
        return {name for entry in self.defaults for name in entry.dataset_types}


def type_name(value: Any) -> str:
    """Return the YAML-ish name of a value's type for error messages (``null`` for None)."""
    return "null" if value is None else type(value).__name__
