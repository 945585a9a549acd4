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

The parts live beside this module and are re-exported here: the dataclasses and
errors in :mod:`.spec_types`, the bounds in :mod:`.limits`, the checks against
the pipeline in :mod:`.spec_dataflow`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from .assignment import ASSIGNMENTS, VISIT_ASSIGNMENTS
from .dataflow import (
    DataflowError,
    PipelineDataflow,
    PipelineSources,
    load_dataflow,
    resolve_pipeline_uri,
)
from .limits import (
    COLLECTION_MAX_LENGTH,
    COLLECTION_PATTERN,
    COLLECTION_RULE,
    DATA_ID_MAX,
    DATA_ID_NAME_MAX_LENGTH,
    DATA_ID_NAME_PATTERN,
    DATASET_TYPE_MAX_LENGTH,
    DATASET_TYPE_PATTERN,
    MAX_SIZE_LIMIT,
    MEMORY_MAX_MB,
    NAME_MAX_LENGTH,
    SPEC_MAX_BYTES,
    SPEC_MAX_DEPTH,
    SPEC_MAX_NODES,
    STAGE_MAX_LENGTH,
    STEP_MAX_LENGTH,
    STEP_PATTERN,
    bounded_yaml,
    collection_errors,
    collection_name_error,
    name_error,
    size_error,
)
from .query import identifier_error, query_error, value_error
from .spec_dataflow import (
    dependency_errors,
    sharding_errors,
    split_level_error,
    step_level,
    step_order_errors,
    validate_against_dataflow,
)
from .spec_sites import parse_sites, sites_listed
from .spec_types import (
    SCOPES,
    SHARE_TOLERANCE,
    SPLIT_KINDS,
    VISIT_SPLIT_KINDS,
    CampaignSpec,
    DefaultsSpec,
    FieldError,
    OutputsSpec,
    SiteSpec,
    SpecError,
    SplitSpec,
    StageSpec,
    StepSpec,
    type_name,
)

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
    "size_error",
    "name_error",
    "parse_spec",
    "sharding_errors",
    "split_level_error",
    "step_order_errors",
    "step_level",
    "validate_against_dataflow",
]


class _Collector:
    """Collects :class:`FieldError` while walking the YAML document."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def mapping(self, value: Any, path: str, allowed: Collection[str], required: Collection[str] = ()) -> dict:
        if not isinstance(value, dict):
            self.add(path, f"must be a mapping, got {type_name(value)}")
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
            self.add(path, f"must be a non-empty string, got {type_name(value)}")
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
            self.add(path, f"must be an integer, got {type_name(value)}")
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
            self.add(path, f"must be a list, got {type_name(value)}")
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


_TOP_KEYS = (
    "name", "pipeline", "hub", "instrument", "skymap", "sites", "tract_map",
    "stages", "steps", "inputs", "defaults", "outputs", "output_prefix", "tract_assignment",
    "visit_assignment",
)  # fmt: skip
_STEP_KEYS = ("name", "scope", "split", "memory_mb", "depends_on")
_SPLIT_KEYS = ("by", "max_size", "values", "dimension", "query")


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
    document = bounded_yaml(text)
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

    sites, tract_map = parse_sites(top, check, known_sites, site_shares)
    if hub is not None:
        if known_sites is not None and hub not in known_sites:
            check.add("hub", f"unknown site {hub!r}")
        elif sites_listed(top) and hub not in sites_listed(top):
            check.add("hub", f"hub {hub!r} must be a participating site")

    raw_stages = _parse_stages(top.get("stages"), check) if "stages" in top else []
    raw_steps = _parse_steps(top.get("steps"), check) if "steps" in top else {}
    stage_paths: dict[str, str] = {}
    stages = _build_stages(raw_stages, raw_steps, check, stage_paths)
    check.errors.extend(dependency_errors(raw_steps, stages))
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
        check.add("defaults", f"must be a list, got {type_name(raw_defaults)}")
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
        problem = (f"must be a non-empty string, got {type_name(given)}" if not isinstance(given, str) or not given
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
    visit_assignment = VISIT_ASSIGNMENTS[0]
    if "visit_assignment" in top:
        value = top["visit_assignment"]
        if value not in VISIT_ASSIGNMENTS:
            check.add("visit_assignment", f"must be one of {', '.join(VISIT_ASSIGNMENTS)}, got {value!r}"[:300])
        else:
            visit_assignment = value

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
        visit_assignment=visit_assignment,
        output_prefix_path=prefix_path,
        step_paths=step_paths,
        stage_paths=stage_paths,
    )


def _parse_stages(raw_stages: Any, check: _Collector) -> list[tuple[str, tuple[str, ...], str]]:
    """Return (stage name, step names, path) per stage."""
    if not isinstance(raw_stages, list) or not raw_stages:
        check.add("stages", f"must be a non-empty list, got {type_name(raw_stages)}")
        return []
    stages = []
    seen: dict[str, str] = {}  # stage name -> its path
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
            if stage_name in seen:  # still placed below: its steps are in a stage, only its name is wrong
                check.add(f"{path}.name", f"stage {stage_name!r} defined twice (first at {seen[stage_name]})")
            seen.setdefault(stage_name, path)
            stages.append((stage_name, names, path))
    return stages


def _parse_steps(raw_steps: Any, check: _Collector) -> dict[str, tuple[dict, str]]:
    """Return step name -> (raw fields, path), checking keys and names."""
    if not isinstance(raw_steps, list) or not raw_steps:
        check.add("steps", f"must be a non-empty list, got {type_name(raw_steps)}")
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
    # a stage that could not be read (no name, steps not a list) may hold any step: then none is "in no stage"
    unread = any(error.path == "stages" or error.path.startswith("stages[") for error in check.errors)
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
        if name not in placed and not unread:  # a stage whose steps could not be read may hold it
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
            check.add(f"{path}.values", f"must be a non-empty list, got {type_name(raw_values)}")
        else:
            accepted: list[str | int] = []
            for index, value in enumerate(raw_values):
                if isinstance(value, bool) or not isinstance(value, (str, int)):
                    check.add(f"{path}.values[{index}]", f"must be a string or integer, got {type_name(value)}")
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
