"""Re-planning after a site is lost: where each group of a plan goes (``reassign_site_groups`` plans with it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from .plan import Plan, PlannedGroup

__all__ = ["reassigned_groups"]


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
