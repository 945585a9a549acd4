"""Roles as Django groups: viewer (read), operator (actions), site admin (sites), staff (everything).

Superusers and ``is_staff`` users have every role. ``ensure_roles()`` creates
the groups (``manage.py setup_roles`` and the data migration call it).
"""

from __future__ import annotations

from typing import Any

VIEWER = "viewer"
OPERATOR = "operator"
SITE_ADMIN = "site admin"
STAFF = "staff"
ROLES = (VIEWER, OPERATOR, SITE_ADMIN, STAFF)


def _in_group(user: Any, *names: str) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser or user.is_staff:
        return True
    cache = getattr(user, "_msproc_role_cache", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._msproc_role_cache = cache
    return bool(cache & ({STAFF} | set(names)))


def can_view(user: Any) -> bool:
    """Any role may read."""
    return _in_group(user, VIEWER, OPERATOR, SITE_ADMIN)


def can_operate(user: Any) -> bool:
    """Campaign, step, group and movement actions."""
    return _in_group(user, OPERATOR)


def can_admin_sites(user: Any) -> bool:
    """Create and change sites, butler repos and queues; site status actions."""
    return _in_group(user, SITE_ADMIN)


def is_staff_role(user: Any) -> bool:
    """Everything, including templates and error rules."""
    return _in_group(user)


def nobody(user: Any) -> bool:
    """No role: what only the planner, the verbs or the workers write (a stage, the event log)."""
    return False


def role_name(predicate: Any) -> str:
    """Return the role a predicate of this module checks, for people (refusal pages name it)."""
    names = {can_view: "viewer, operator or site admin", can_operate: OPERATOR, can_admin_sites: SITE_ADMIN,
             is_staff_role: STAFF, nobody: "nobody"}
    return names.get(predicate, getattr(predicate, "__name__", "unknown"))


def ensure_roles() -> None:
    """Create the role groups if they do not exist."""
    from django.contrib.auth.models import Group

    for name in ROLES:
        Group.objects.get_or_create(name=name)
