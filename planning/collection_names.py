"""The Butler collections of a campaign, named in one place.

Under the campaign's ``output_prefix`` (unique per campaign, see ``spec.py``):

=====================================  ================================================================
``{prefix}/{seg}/group{N}/attempt{K}``  RUN collection of attempt K of group N of a step
``{prefix}/{seg}/group{N}``             CHAINED collection of group N (BPS ``output``)
``{prefix}/{seg}``                      CHAINED collection of a step (what later steps and movements read)
``{prefix}/output``                     CHAINED collection of the campaign's outputs at a site
``{prefix}/input``                      default input collection of a BPS submission
=====================================  ================================================================

``seg`` is the step's *collection segment*: the step label itself, or, for labels in drp_pipe's
``stepNx-words`` form (``step1a-single-visit-detectors``, ``step2c-recalibrate-healpix``), their leading
``stepNx`` part, which is what Rubin's own campaigns call these steps. Butler registries limit a
collection name to 64 characters (``lsst.daf.butler.column_spec.COLLECTION_NAME_MAX_LENGTH``; PostgreSQL
enforces it): with the full LSSTCam labels (up to 29 characters) a RUN collection would leave almost no room
for the prefix. A campaign whose steps would share a segment is refused by the planner (``segment_clashes``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["ATTEMPT_DIGITS", "group_collection", "longest_run_collection", "output_collection",
           "run_collection", "segment_clashes", "step_collection", "step_segment"]

#: drp_pipe's step labels: ``step`` + digits + letters, then ``-`` and words (pipelines/LSSTCam/DRP.yaml).
_DRP_STEP_LABEL = re.compile(r"(step[0-9]+[a-z]*)-[A-Za-z0-9_-]+")
#: Room left in collection names for attempts (``.../attempt999``).
ATTEMPT_DIGITS = 3


def step_segment(step: str) -> str:
    """Return the collection segment of the step labelled ``step`` (``step1a`` for ``step1a-single-visit-...``).

    A label not in drp_pipe's ``stepNx-words`` form is its own segment.
    """
    match = _DRP_STEP_LABEL.fullmatch(step)
    return match.group(1) if match else step


def segment_clashes(steps: Iterable[str]) -> dict[str, list[str]]:
    """Return the segments that more than one of ``steps`` (labels) would use: segment -> those labels."""
    users: dict[str, list[str]] = {}
    for label in dict.fromkeys(steps):
        users.setdefault(step_segment(label), []).append(label)
    return {segment: labels for segment, labels in users.items() if len(labels) > 1}


def step_collection(prefix: str, step: str) -> str:
    """Return the CHAINED collection of the step labelled ``step``: ``{prefix}/{segment}``."""
    return f"{prefix}/{step_segment(step)}"


def group_collection(prefix: str, step: str, ordinal: int) -> str:
    """Return the CHAINED collection of group ``ordinal`` of a step: ``{prefix}/{segment}/group{ordinal}``."""
    return f"{step_collection(prefix, step)}/group{ordinal}"


def run_collection(prefix: str, step: str, ordinal: int, attempt: int) -> str:
    """Return the RUN collection of attempt ``attempt`` of a group: ``{prefix}/{segment}/group{N}/attempt{K}``."""
    return f"{group_collection(prefix, step, ordinal)}/attempt{attempt}"


def output_collection(prefix: str) -> str:
    """Return the campaign's output CHAINED collection at a site: ``{prefix}/output``."""
    return f"{prefix}/output"


def longest_run_collection(prefix: str, groups_per_step: Mapping[str, int]) -> str:
    """Return the longest RUN collection a campaign may create (step label -> number of groups of the step),
    with room for :data:`ATTEMPT_DIGITS`-digit attempts; ``prefix`` itself when there is no step."""
    names = [run_collection(prefix, step, count, int("9" * ATTEMPT_DIGITS))
             for step, count in groups_per_step.items()]
    return max(names, key=len, default=prefix)
