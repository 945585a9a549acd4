"""The campaign spec: YAML -> typed dataclasses, with collected validation errors.

See ``docs/campaign-spec.md`` for the format. :func:`parse_spec` checks the
structure (keys, types, values); :func:`validate_against_dataflow` checks the
spec against the pipeline (steps are subsets, every input is produced or
provided, each split fits its step's level). :func:`load_spec` does both and
raises one :class:`SpecError` listing every problem, each with the field path
(``steps[3].split.max_size``). :func:`step_level` is the planner's rule for
what one group of a step covers (``global``, ``tract`` or ``visit``).

Every value is checked against what it feeds (see the "Limits" section of
``docs/campaign-spec.md``): a string that is stored, or becomes part of a
name in an external system (Butler collections, BPS workflows, Rucio
datasets, directories), against its column or backend length and allowed
characters; every number is finite and in range; a split's ``query`` is
parsed by daf_butler's expression parser (:mod:`.query`). The document
itself is bounded (:data:`SPEC_MAX_BYTES`, :data:`SPEC_MAX_DEPTH`,
:data:`SPEC_MAX_NODES`) before it is built, so a huge or deeply nested
spec is an error, not an exhausted server. A ``pipeline`` must be one the
:class:`PipelineSources` allow.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Collection, Mapping
from typing import Any

import yaml

from .assignment import ASSIGNMENTS
from .dataflow import (
    DataflowError,
    PipelineDataflow,
    PipelineSources,
    check_step_order,
    load_dataflow,
    resolve_pipeline_uri,
)
from .query import identifier_error, query_error, value_error

__all__ = [
    "COLLECTION_MAX_LENGTH",
    "NAME_MAX_LENGTH",
    "SHARE_TOLERANCE",
    "SPEC_MAX_BYTES",
    "SPEC_MAX_DEPTH",
    "SPEC_MAX_NODES",
    "SPLIT_KINDS",
    "VISIT_SPLIT_KINDS",
    "CampaignSpec",
    "DefaultsSpec",
    "FieldError",
    "OutputsSpec",
    "SiteSpec",
    "SpecError",
    "SplitSpec",
    "StageSpec",
    "StepSpec",
    "collection_errors",
    "collection_name_error",
    "load_spec",
    "longest_collection",
    "name_error",
    "parse_spec",
    "sharding_errors",
    "split_level_error",
    "step_order_errors",
    "step_level",
    "validate_against_dataflow",
]

SHARE_TOLERANCE = 1e-6
SPLIT_KINDS = ("tract", "visit", "exposure", "values", "query")
#: Split kinds that cut a step's visits into runs: only for visit-level steps.
VISIT_SPLIT_KINDS = ("visit", "exposure")
SCOPES = ("wide", "global")

#: Largest spec accepted, in bytes of UTF-8 (the UI, API and CLI refuse more before parsing).
SPEC_MAX_BYTES = 1_000_000
#: Deepest nesting of mappings and lists accepted (a real spec needs 4).
SPEC_MAX_DEPTH = 20
#: Most YAML nodes (scalars, mappings, lists, aliases) accepted in one spec.
SPEC_MAX_NODES = 200_000
#: Campaign names: the ``Campaign.name`` column; they become part of collections, workflows and directories.
NAME_MAX_LENGTH = 128
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: Butler's limit on a collection name (``lsst.daf.butler.column_spec.COLLECTION_NAME_MAX_LENGTH``).
COLLECTION_MAX_LENGTH = 64
#: Collection names msproc creates or passes to BPS (``-i a,b``, unquoted): no space, comma or quote.
COLLECTION_PATTERN = re.compile(r"[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*")
COLLECTION_RULE = ("must be {what} of letters, digits, '_', '.', '+' and '-' in parts separated by single '/' "
                   "(no '.' or '..' part)")
#: Pipeline subset labels: they become parts of collections, workflow names and directories.
STEP_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
STEP_MAX_LENGTH = 64  # the Step.name column
STAGE_MAX_LENGTH = 64
DATASET_TYPE_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
DATASET_TYPE_MAX_LENGTH = 128
#: Instrument and skymap names are quoted into every group's data query.
DATA_ID_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
DATA_ID_NAME_MAX_LENGTH = 64
MEMORY_MAX_MB = 1_048_576  # 1 TB: above any PanDA queue
MAX_SIZE_LIMIT = 1_000_000
DATA_ID_MAX = 2**31 - 1
#: Room left in collection names for attempts (``.../attempt999``).
ATTEMPT_DIGITS = 3


def name_error(name: Any) -> str | None:
    """Return why ``name`` cannot be a campaign name, or None when it can."""
    if not isinstance(name, str) or not name:
        return f"must be a non-empty string, got {_type_name(name)}"
    if len(name) > NAME_MAX_LENGTH:
        return f"must be at most {NAME_MAX_LENGTH} characters, got {len(name)}"
    if not NAME_PATTERN.fullmatch(name):
        return ("may hold only letters, digits, '_', '.' and '-', starting with a letter or digit "
                "(it becomes part of collection, workflow and directory names)")
    return None


def collection_name_error(name: str, what: str = "a collection name") -> str | None:
    """Return why ``name`` cannot be a Butler collection msproc uses, or None."""
    if len(name) > COLLECTION_MAX_LENGTH:
        return f"must be at most {COLLECTION_MAX_LENGTH} characters (Butler's limit), got {len(name)}"
    if not COLLECTION_PATTERN.fullmatch(name) or any(part in (".", "..") for part in name.split("/")):
        return COLLECTION_RULE.format(what=what)
    return None


def longest_collection(output_prefix: str, groups_per_step: Mapping[str, int]) -> str:
    """Return the longest collection a campaign with this prefix and these steps (name -> groups) may create.

    ``{prefix}/{step}/group{N}/attempt{N}``, with room for 3-digit attempts.
    """
    names = [f"{output_prefix}/{step}/group{count}/attempt{'9' * ATTEMPT_DIGITS}"
             for step, count in groups_per_step.items()]
    return max(names, key=len, default=output_prefix)


def collection_errors(spec: CampaignSpec, groups_per_step: Mapping[str, int],
                      limit: int | None = COLLECTION_MAX_LENGTH) -> list[FieldError]:
    """Return the error of a campaign whose collections would be longer than ``limit`` (empty: fine; None: no
    limit)."""
    longest = longest_collection(spec.output_prefix, groups_per_step)
    if limit is None or len(longest) <= limit:
        return []
    fix = "output_prefix" if spec.output_prefix_path == "output_prefix" else "name (or give an output_prefix)"
    return [FieldError(spec.output_prefix_path,
                       f"makes collections like {longest!r} of {len(longest)} characters; the hub's Butler "
                       f"allows {limit}: give a shorter {fix}")]


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
    the dataflow's (see :mod:`msproc.lib.planning.structure`).
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
    #: How shares become tracts per site (:data:`msproc.lib.planning.assignment.ASSIGNMENTS`).
    tract_assignment: str = "compact"
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


class _Collector:
    """Collects :class:`FieldError` while walking the YAML document."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def mapping(self, value: Any, path: str, allowed: Collection[str], required: Collection[str] = ()) -> dict:
        if not isinstance(value, dict):
            self.add(path, f"must be a mapping, got {_type_name(value)}")
            return {}
        for key in value:
            if key not in allowed:
                self.add(_join(path, str(key)), "unknown key")
        for key in required:
            if key not in value:
                self.add(_join(path, key), "is required")
        return value

    def string(self, value: Any, path: str, *, max_length: int = 256, pattern: re.Pattern | None = None,
               describe: str = "") -> str | None:
        """Return ``value`` if it is a non-empty string within ``max_length`` matching ``pattern``, else None."""
        if not isinstance(value, str) or not value:
            self.add(path, f"must be a non-empty string, got {_type_name(value)}")
            return None
        if len(value) > max_length:
            self.add(path, f"must be at most {max_length} characters, got {len(value)}")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.add(path, describe or f"must match {pattern.pattern}")
            return None
        if pattern is None and not value.isprintable():
            self.add(path, "must not contain control characters")
            return None
        return value

    def integer(self, value: Any, path: str, positive: bool = False, *, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, f"must be an integer, got {_type_name(value)}")
            return None
        if positive and value <= 0:
            self.add(path, "must be > 0")
            return None
        if minimum is not None and value < minimum:
            self.add(path, f"must be >= {minimum}")
            return None
        if maximum is not None and value > maximum:
            self.add(path, f"must be <= {maximum}")
            return None
        return value

    def string_list(self, value: Any, path: str, **limits: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.add(path, f"must be a list, got {_type_name(value)}")
            return ()
        result = []
        for index, element in enumerate(value):
            text = self.string(element, f"{path}[{index}]", **limits)
            if text is not None:
                result.append(text)
        return tuple(result)

    def collections(self, value: Any, path: str) -> tuple[str, ...]:
        names = self.string_list(value, path, max_length=COLLECTION_MAX_LENGTH, pattern=COLLECTION_PATTERN,
                                 describe=COLLECTION_RULE.format(what="a collection name"))
        for index, name in enumerate(names):
            if any(part in (".", "..") for part in name.split("/")):
                self.add(f"{path}[{index}]", "must have no '.' or '..' part")
        return names

    def dataset_types(self, value: Any, path: str) -> tuple[str, ...]:
        return self.string_list(value, path, max_length=DATASET_TYPE_MAX_LENGTH, pattern=DATASET_TYPE_PATTERN,
                                describe="must be a dataset type name (letters, digits and '_', components "
                                         "after '.')")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


_TOP_KEYS = (
    "name", "pipeline", "hub", "instrument", "skymap", "sites", "tract_map",
    "stages", "steps", "inputs", "defaults", "outputs", "output_prefix", "tract_assignment",
)  # fmt: skip
_STEP_KEYS = ("name", "scope", "split", "memory_mb", "depends_on")
_SPLIT_KEYS = ("by", "max_size", "values", "dimension", "query")


def size_error(text: str | bytes) -> FieldError | None:
    """Return the error of a spec larger than :data:`SPEC_MAX_BYTES`, or None."""
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > SPEC_MAX_BYTES:
        return FieldError("", f"the spec is {size:,} bytes; at most {SPEC_MAX_BYTES:,} are accepted")
    return None


def _bounded_yaml(text: str) -> Any:
    """Load ``text`` as YAML after checking, on the event stream, its size, nesting depth and node count.

    The event parser is iterative; only a document within the bounds reaches the (recursive) composer.

    Raises:
        SpecError: the document is too large, too deep, has too many nodes or is not valid YAML.
    """
    too_big = size_error(text)
    if too_big is not None:
        raise SpecError([too_big])
    depth = nodes = 0
    try:
        for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > SPEC_MAX_DEPTH:
                    raise SpecError([FieldError("", f"the spec nests deeper than {SPEC_MAX_DEPTH} levels")])
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            if isinstance(event, (yaml.NodeEvent, yaml.CollectionStartEvent)):
                nodes += 1
                if nodes > SPEC_MAX_NODES:
                    raise SpecError([FieldError("", f"the spec has more than {SPEC_MAX_NODES:,} values")])
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        if "nesting depth" in problem:  # libyaml's own bound, met before the event reaches the check above
            raise SpecError([FieldError("", f"the spec nests deeper than {SPEC_MAX_DEPTH} levels")]) from None
        raise SpecError([FieldError("", f"invalid YAML: {where}{problem}")]) from None


def parse_spec(
    text: str,
    *,
    known_sites: Collection[str] | None = None,
    site_shares: Mapping[str, float] | None = None,
    name: str | None = None,
) -> CampaignSpec:
    """Parse and structurally validate a campaign spec YAML document.

    ``known_sites`` are the site codes that exist (None: do not check);
    ``site_shares`` gives the share of a site listed without one; ``name``
    (the campaign's name, when it is given apart from the spec) replaces the
    spec's ``name``, and the default ``output_prefix`` follows it.
    Returns the :class:`CampaignSpec`.

    Raises:
        SpecError: with every problem found (bad YAML: one error with path
            ``""`` naming the line; a document beyond the size, depth or
            node limits: one error at ``""``).
    """
    document = _bounded_yaml(text)
    check = _Collector()
    spec = _parse_document(document, check, known_sites, site_shares or {}, name)
    if check.errors or spec is None:
        raise SpecError(check.errors)
    return spec


def _parse_document(
    document: Any,
    check: _Collector,
    known_sites: Collection[str] | None,
    site_shares: Mapping[str, float],
    name_override: str | None = None,
) -> CampaignSpec | None:
    required = ("pipeline", "hub", "stages", "steps") if name_override else ("name", "pipeline", "hub", "stages",
                                                                               "steps")
    top = check.mapping(document, "", _TOP_KEYS, required=required)
    if not top:
        return None
    name = None
    if name_override:
        problem = name_error(name_override)
        if problem:
            check.add("name", problem)
        else:
            name = name_override
    elif "name" in top:
        problem = name_error(top["name"])
        if problem:
            check.add("name", problem)
        else:
            name = top["name"]
    pipeline = check.string(top.get("pipeline"), "pipeline", max_length=512) if "pipeline" in top else None
    hub = check.string(top.get("hub"), "hub", max_length=32) if "hub" in top else None
    data_id_name = {"max_length": DATA_ID_NAME_MAX_LENGTH, "pattern": DATA_ID_NAME_PATTERN,
                    "describe": "may hold only letters, digits, '_', '.' and '-' (it is quoted into data queries)"}
    instrument = check.string(top.get("instrument", "MockCam"), "instrument", **data_id_name) or "MockCam"
    skymap = check.string(top.get("skymap", "mock_skymap"), "skymap", **data_id_name) or "mock_skymap"

    sites, tract_map = _parse_sites(top, check, known_sites, site_shares)
    if hub is not None:
        if known_sites is not None and hub not in known_sites:
            check.add("hub", f"unknown site {hub!r}")
        elif sites and hub not in {site.code for site in sites}:
            check.add("hub", f"hub {hub!r} must be a participating site")

    raw_stages = _parse_stages(top.get("stages"), check) if "stages" in top else []
    raw_steps = _parse_steps(top.get("steps"), check) if "steps" in top else {}
    stage_paths: dict[str, str] = {}
    stages = _build_stages(raw_stages, raw_steps, check, stage_paths)
    _check_dependencies(raw_steps, stages, check)
    step_paths = {name: path for name, (_, path) in raw_steps.items()}

    input_collections: tuple[str, ...] = ()
    input_dataset_types: tuple[str, ...] = ("raw",)
    if "inputs" in top:
        inputs = check.mapping(top["inputs"], "inputs", ("collections", "dataset_types"), required=("collections",))
        if "collections" in inputs:
            input_collections = check.collections(inputs["collections"], "inputs.collections")
        if "dataset_types" in inputs:
            input_dataset_types = check.dataset_types(inputs["dataset_types"], "inputs.dataset_types")
    else:
        check.add("inputs", "is required")

    defaults: list[DefaultsSpec] = []
    raw_defaults = top.get("defaults", [])
    if not isinstance(raw_defaults, list):
        check.add("defaults", f"must be a list, got {_type_name(raw_defaults)}")
        raw_defaults = []
    for index, entry in enumerate(raw_defaults):
        path = f"defaults[{index}]"
        fields = check.mapping(entry, path, ("dataset_types", "collections"), required=("dataset_types", "collections"))
        if fields:
            defaults.append(
                DefaultsSpec(
                    dataset_types=check.dataset_types(fields.get("dataset_types", []), f"{path}.dataset_types"),
                    collections=check.collections(fields.get("collections", []), f"{path}.collections"),
                )
            )

    outputs = OutputsSpec()
    if "outputs" in top:
        raw_outputs = check.mapping(top["outputs"], "outputs", ("return", "archive"))
        outputs = OutputsSpec(
            return_=check.dataset_types(raw_outputs.get("return", []), "outputs.return"),
            archive=check.dataset_types(raw_outputs.get("archive", []), "outputs.archive"),
        )

    # The default prefix carries the campaign's name, unique among campaigns: two campaigns from one spec
    # or template never share collections (a given output_prefix is checked against the others on creation).
    output_prefix = f"u/msproc/{name}" if name else ""
    prefix_path = "name"
    if "output_prefix" in top:
        prefix_path = "output_prefix"
        given = top["output_prefix"]
        problem = (f"must be a non-empty string, got {_type_name(given)}" if not isinstance(given, str) or not given
                   else collection_name_error(given, "a collection prefix"))
        if problem:
            check.add("output_prefix", problem)
            output_prefix = ""
        else:
            output_prefix = given
    # How long the campaign's collections get depends on its groups: the planner checks it (collection_errors).

    tract_assignment = "compact"
    if "tract_assignment" in top:
        value = top["tract_assignment"]
        if value not in ASSIGNMENTS:
            check.add("tract_assignment", f"must be one of {', '.join(ASSIGNMENTS)}, got {value!r}"[:300])
        else:
            tract_assignment = value

    if name is None or pipeline is None or hub is None:
        return None
    return CampaignSpec(
        name=name,
        pipeline=pipeline,
        hub=hub,
        instrument=instrument,
        skymap=skymap,
        sites=sites,
        tract_map=tract_map,
        stages=stages,
        input_collections=input_collections,
        input_dataset_types=input_dataset_types,
        defaults=tuple(defaults),
        outputs=outputs,
        output_prefix=output_prefix,
        tract_assignment=tract_assignment,
        output_prefix_path=prefix_path,
        step_paths=step_paths,
        stage_paths=stage_paths,
    )


def _parse_sites(
    top: dict,
    check: _Collector,
    known_sites: Collection[str] | None,
    site_shares: Mapping[str, float],
) -> tuple[tuple[SiteSpec, ...], dict[int, str] | None]:
    tract_map: dict[int, str] | None = None
    if "tract_map" in top:
        raw_map = top["tract_map"]
        if not isinstance(raw_map, dict) or not raw_map:
            check.add("tract_map", f"must be a non-empty mapping of tract -> site, got {_type_name(raw_map)}")
        else:
            tract_map = {}
            for tract, site in raw_map.items():
                path = f"tract_map.{tract}"
                tract_id = check.integer(tract, path, minimum=0, maximum=DATA_ID_MAX)
                code = check.string(site, path, max_length=32)
                if code is not None and known_sites is not None and code not in known_sites:
                    check.add(path, f"unknown site {code!r}")
                if tract_id is not None and code is not None:
                    tract_map[tract_id] = code
    if "sites" not in top:
        if tract_map is None:
            check.add("sites", "is required unless tract_map is given")
            return (), None
        codes = sorted(set(tract_map.values()) | ({top["hub"]} if isinstance(top.get("hub"), str) else set()))
        return tuple(SiteSpec(code) for code in codes), tract_map

    raw_sites = top["sites"]
    if not isinstance(raw_sites, list) or not raw_sites:
        check.add("sites", f"must be a non-empty list, got {_type_name(raw_sites)}")
        return (), tract_map
    entries: list[tuple[str, Any, str]] = []
    for index, entry in enumerate(raw_sites):
        path = f"sites[{index}]"
        if isinstance(entry, str):  # shorthand: just the code
            entry = {"code": entry}
        fields = check.mapping(entry, path, ("code", "share"), required=("code",))
        code = check.string(fields.get("code"), f"{path}.code", max_length=32) if "code" in fields else None
        if code is None:
            continue
        if known_sites is not None and code not in known_sites:
            check.add(f"{path}.code", f"unknown site {code!r}")
        if code in {seen for seen, _, _ in entries}:
            check.add(f"{path}.code", f"site {code!r} listed twice")
        entries.append((code, fields.get("share"), path))

    sites: list[SiteSpec] = []
    if tract_map is not None:
        listed = {code for code, _, _ in entries}
        for tract, code in tract_map.items():
            if code not in listed:
                check.add(f"tract_map.{tract}", f"site {code!r} is not in sites")
        return tuple(SiteSpec(code) for code, _, _ in entries), tract_map

    explicit = any(share is not None for _, share, _ in entries)
    for code, share, path in entries:
        if share is None:
            share = site_shares.get(code)
            if share is None:
                check.add(f"{path}.share", f"no share given and no default share for site {code!r}")
                continue
        if isinstance(share, bool) or not isinstance(share, (int, float)):
            check.add(f"{path}.share", f"must be a number, got {_type_name(share)}")
            continue
        if not math.isfinite(share):
            check.add(f"{path}.share", f"must be a finite number, got {share}")
            continue
        if not 0 <= share <= 1:
            check.add(f"{path}.share", f"must be between 0 and 1, got {share:g}")
            continue
        sites.append(SiteSpec(code, float(share)))
    if len(sites) == len(entries) and sites:
        total = sum(site.share or 0.0 for site in sites)
        if not explicit and total > 0:
            # All shares come from the Site table: normalise over the participating sites.
            sites = [SiteSpec(site.code, (site.share or 0.0) / total) for site in sites]
        elif abs(total - 1.0) > SHARE_TOLERANCE:
            check.add("sites", f"shares must add up to 1, got {total:g}")
    return tuple(sites), None


def _parse_stages(raw_stages: Any, check: _Collector) -> list[tuple[str, tuple[str, ...], str]]:
    """Return (stage name, step names, path) per stage."""
    if not isinstance(raw_stages, list) or not raw_stages:
        check.add("stages", f"must be a non-empty list, got {_type_name(raw_stages)}")
        return []
    stages = []
    for index, raw_stage in enumerate(raw_stages):
        path = f"stages[{index}]"
        fields = check.mapping(raw_stage, path, ("name", "steps"), required=("name", "steps"))
        stage_name = (check.string(fields.get("name"), f"{path}.name", max_length=STAGE_MAX_LENGTH)
                      if "name" in fields else None)
        names: tuple[str, ...] = ()
        if "steps" in fields:
            names = check.string_list(fields["steps"], f"{path}.steps", max_length=STEP_MAX_LENGTH)
            if not names and isinstance(fields["steps"], list):
                check.add(f"{path}.steps", "must not be empty")
        if stage_name is not None:
            stages.append((stage_name, names, path))
    return stages


def _parse_steps(raw_steps: Any, check: _Collector) -> dict[str, tuple[dict, str]]:
    """Return step name -> (raw fields, path), checking keys and names."""
    if not isinstance(raw_steps, list) or not raw_steps:
        check.add("steps", f"must be a non-empty list, got {_type_name(raw_steps)}")
        return {}
    steps: dict[str, tuple[dict, str]] = {}
    for index, raw in enumerate(raw_steps):
        path = f"steps[{index}]"
        fields = check.mapping(raw, path, _STEP_KEYS, required=("name", "memory_mb"))
        if "name" not in fields:
            continue
        name = check.string(fields["name"], f"{path}.name", max_length=STEP_MAX_LENGTH, pattern=STEP_PATTERN,
                            describe="must be a pipeline subset label: a letter, then letters, digits, '_' and '-'")
        if name is None:
            continue
        if name in steps:
            check.add(f"{path}.name", f"step {name!r} defined twice")
            continue
        steps[name] = (fields, path)
    return steps


def _build_stages(
    raw_stages: list[tuple[str, tuple[str, ...], str]],
    raw_steps: dict[str, tuple[dict, str]],
    check: _Collector,
    stage_paths: dict[str, str],
) -> tuple[StageSpec, ...]:
    stages: list[StageSpec] = []
    placed: dict[str, str] = {}
    for stage_name, names, stage_path in raw_stages:
        steps: list[StepSpec] = []
        for index, name in enumerate(names):
            if name in placed:
                check.add(f"{stage_path}.steps[{index}]", f"step {name!r} already in stage {placed[name]!r}")
                continue
            placed[name] = stage_name
            stage_paths[name] = f"{stage_path}.steps[{index}]"
            if name not in raw_steps:
                check.add(f"{stage_path}.steps[{index}]", f"step {name!r} is not defined under steps")
                continue
            fields, path = raw_steps[name]
            steps.append(_parse_step(name, fields, path, stage_name, check))
        stages.append(StageSpec(stage_name, tuple(steps)))
    for name, (_, path) in raw_steps.items():
        if name not in placed:
            check.add(f"{path}.name", f"step {name!r} is in no stage")
    return tuple(stages)


def _parse_step(name: str, fields: dict, path: str, stage: str, check: _Collector) -> StepSpec:
    scope = fields.get("scope")
    if scope is not None and scope not in SCOPES:
        check.add(f"{path}.scope", f"must be one of {', '.join(SCOPES)}, got {scope!r}")
        scope = None
    memory_mb = None
    if "memory_mb" in fields:
        memory_mb = check.integer(fields["memory_mb"], f"{path}.memory_mb", positive=True, maximum=MEMORY_MAX_MB)
    split = _parse_split(fields["split"], f"{path}.split", check) if "split" in fields else None
    if scope == "global" and "split" in fields:
        check.add(f"{path}.split", "a global step runs as one group at the hub and takes no split")
    depends_on: tuple[str, ...] = ()
    if "depends_on" in fields:
        depends_on = check.string_list(fields["depends_on"], f"{path}.depends_on", max_length=STEP_MAX_LENGTH)
    return StepSpec(name=name, stage=stage, scope=scope, split=split, memory_mb=memory_mb or 0, depends_on=depends_on)


def _parse_split(raw: Any, path: str, check: _Collector) -> SplitSpec | None:
    fields = check.mapping(raw, path, _SPLIT_KEYS, required=("by",))
    if "by" not in fields:
        return None
    by = fields["by"]
    if by not in SPLIT_KINDS:
        check.add(f"{path}.by", f"must be one of {', '.join(SPLIT_KINDS)}, got {by!r}")
        return None
    max_size = None
    if "max_size" in fields:
        max_size = check.integer(fields["max_size"], f"{path}.max_size", positive=True, maximum=MAX_SIZE_LIMIT)
    elif by in ("visit", "exposure"):
        check.add(f"{path}.max_size", f"is required when splitting by {by}")
    values: tuple[str | int, ...] = ()
    if by == "values":
        raw_values = fields.get("values")
        if not isinstance(raw_values, list) or not raw_values:
            check.add(f"{path}.values", f"must be a non-empty list, got {_type_name(raw_values)}")
        else:
            accepted: list[str | int] = []
            for index, value in enumerate(raw_values):
                if isinstance(value, bool) or not isinstance(value, (str, int)):
                    check.add(f"{path}.values[{index}]", f"must be a string or integer, got {_type_name(value)}")
                    continue
                problem = (value_error(value) if isinstance(value, str)
                           else None if 0 <= value <= DATA_ID_MAX else f"must be between 0 and {DATA_ID_MAX}")
                if problem:
                    check.add(f"{path}.values[{index}]", problem)
                elif value in accepted:
                    check.add(f"{path}.values[{index}]", f"{value!r} listed twice")
                else:
                    accepted.append(value)
            values = tuple(accepted)
    dimension = "band"
    if "dimension" in fields:
        dimension = check.string(fields["dimension"], f"{path}.dimension", max_length=64) or "band"
        problem = identifier_error(dimension)
        if problem:
            check.add(f"{path}.dimension", problem)
            dimension = "band"
    query = None
    if by == "query":
        query = check.string(fields.get("query"), f"{path}.query", max_length=4000)
        problem = query_error(query) if query is not None else None
        if problem:
            check.add(f"{path}.query", problem)
            query = None
    return SplitSpec(by=by, max_size=max_size, values=values, dimension=dimension, query=query)


def _check_dependencies(
    raw_steps: dict[str, tuple[dict, str]], stages: tuple[StageSpec, ...], check: _Collector
) -> None:
    steps = {step.name: step for stage in stages for step in stage.steps}
    position = {name: index for index, name in enumerate(steps)}
    for name, step in steps.items():
        path = raw_steps[name][1]
        for index, dependency in enumerate(step.depends_on):
            if dependency not in raw_steps:
                check.add(f"{path}.depends_on[{index}]", f"unknown step {dependency!r}")
            elif dependency in position and position[dependency] > position[name]:
                # The stages order the steps; a wait for a later step can never be met.
                check.add(
                    f"{path}.depends_on[{index}]",
                    f"{name} cannot wait for {dependency!r}: the stages run {dependency} later",
                )
    # Depth-first search; each cycle is reported once, at the step where it closes.
    graph = {name: [d for d in step.depends_on if d in steps] for name, step in steps.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dependency in graph[node]:
            if state.get(dependency) == 1:
                cycle = [*trail[trail.index(dependency) :], dependency]
                check.add(f"{raw_steps[node][1]}.depends_on", f"dependency cycle: {' -> '.join(cycle)}")
            elif dependency not in state:
                visit(dependency, [*trail, dependency])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])


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


def load_spec(
    text: str,
    *,
    known_sites: Collection[str] | None = None,
    site_shares: Mapping[str, float] | None = None,
    dataflow: PipelineDataflow | None = None,
    name: str | None = None,
    sources: PipelineSources | None = None,
) -> tuple[CampaignSpec, PipelineDataflow]:
    """Parse ``text``, load its pipeline (unless ``dataflow`` is given) and validate both.

    ``name`` replaces the spec's name (see :func:`parse_spec`); ``sources``
    say where the pipeline may come from (default: only the shipped ones).
    Returns the spec and the dataflow of its steps.

    Raises:
        SpecError: with every structural and dataflow problem found; a
            pipeline that is not allowed or cannot be loaded is reported at
            path ``pipeline``, naming no server path.
    """
    spec = parse_spec(text, known_sites=known_sites, site_shares=site_shares, name=name)
    if dataflow is None:
        try:
            uri = resolve_pipeline_uri(spec.pipeline, sources)
        except DataflowError as err:
            raise SpecError([FieldError("pipeline", str(err))]) from None
        try:
            dataflow = load_dataflow(uri)
        except DataflowError as err:
            raise SpecError([FieldError("pipeline", str(err).replace(uri, spec.pipeline))]) from None
    errors = validate_against_dataflow(spec, dataflow)
    if errors:
        raise SpecError(errors)
    return spec, dataflow
