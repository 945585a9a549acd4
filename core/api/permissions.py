"""API permissions from the roles of ``core.roles``.

Reading needs any role (viewer, operator, site admin, staff). Writing and
actions need the role a viewset names for each action: ``write_role`` for
create/update/delete and ``action_roles[action]`` for POST actions.
Anonymous users get 401 (token clients) and users without the role 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from core import roles

RolePredicate = Callable[[Any], bool]


class RolePermission(BasePermission):
    """Any role reads; writes and actions need the role the view names for the action (staff by default)."""

    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not getattr(user, "is_authenticated", False):
            return False
        if request.method in SAFE_METHODS:
            return roles.can_view(user)
        return required_role(view)(user)


def required_role(view: Any) -> RolePredicate:
    """Return the role predicate a non-read request to ``view`` needs."""
    action = getattr(view, "action", None)
    action_roles: dict[str, RolePredicate] = getattr(view, "action_roles", {})
    if action in action_roles:
        return action_roles[action]
    return getattr(view, "write_role", roles.is_staff_role)
