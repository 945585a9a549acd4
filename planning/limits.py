"""What a spec may hold: bounds on the document and on every value that becomes an external name.

See the "Limits" section of ``docs/campaign-spec.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from .collection_names import longest_run_collection
from .spec_types import CampaignSpec, FieldError, SpecError, type_name

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


def name_error(name: Any) -> str | None:
    """Return why ``name`` cannot be a campaign name, or None when it can."""
    if not isinstance(name, str) or not name:
        return f"must be a non-empty string, got {type_name(name)}"
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


def collection_errors(spec: CampaignSpec, groups_per_step: Mapping[str, int],
                      limit: int | None = COLLECTION_MAX_LENGTH) -> list[FieldError]:
    """Return the error of a campaign whose collections would be longer than ``limit`` (empty: fine; None: no
    limit). ``groups_per_step``: step label -> number of groups; collections are named by ``collection_names.py``."""
    longest = longest_run_collection(spec.output_prefix, groups_per_step)
    if limit is None or len(longest) <= limit:
        return []
    fix = "output_prefix" if spec.output_prefix_path == "output_prefix" else "name (or give an output_prefix)"
    return [FieldError(spec.output_prefix_path,
                       f"makes collections like {longest!r} of {len(longest)} characters; the hub's Butler "
                       f"allows {limit}: give a shorter {fix}")]


def size_error(text: str | bytes) -> FieldError | None:
    """Return the error of a spec larger than :data:`SPEC_MAX_BYTES`, or None."""
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > SPEC_MAX_BYTES:
        return FieldError("", f"the spec is {size:,} bytes; at most {SPEC_MAX_BYTES:,} are accepted")
    return None


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader, refusing a mapping that gives one key twice (YAML says keys are unique; PyYAML
    would silently keep the last). Merge keys (``<<``) still override, as YAML's merge type says."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:
                continue  # an unhashable key: the constructor reports it
            if first is not key_node.start_mark:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (first on line {first.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def bounded_yaml(text: str) -> Any:
    """Load ``text`` as YAML after checking, on the event stream, its size, nesting depth and node count.

    The event parser is iterative; only a document within the bounds reaches the (recursive) composer.

    Raises:
        SpecError: the document is too large, too deep, has too many nodes, gives a mapping key twice
            or is not valid YAML.
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
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        if "nesting depth" in problem:  # libyaml's own bound, met before the event reaches the check above
            raise SpecError([FieldError("", f"the spec nests deeper than {SPEC_MAX_DEPTH} levels")]) from None
        raise SpecError([FieldError("", f"invalid YAML: {where}{problem}")]) from None
