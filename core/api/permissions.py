"""API permissions from the permission table (``core.permissions``).

A request's operation follows from the viewset's action: reads are ``view``, ``create`` is ``add``,
``update``/``partial_update`` are ``change``, ``destroy`` is ``delete``, a bulk action is its verb and any
other action (an operator verb, ``plan``, ``reassign``) is its own name; the model is the viewset's. The
table's row for it decides. A view without a model (liveness) is read by any role and written by nobody.
Anonymous users get 401 (token clients) and users without the role 403.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from core import permissions, roles

OPERATIONS = {"create": permissions.ADD, "update": permissions.CHANGE, "partial_update": permissions.CHANGE,
              "destroy": permissions.DELETE}


class RolePermission(BasePermission):
    """The permission table's answer for the viewset's model and the request's operation."""

    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not getattr(user, "is_authenticated", False):
            return False
        model = model_of(view)
        if model is None:
            return request.method in SAFE_METHODS and roles.can_view(user)
        return permissions.allows(user, model, operation_of(request, view, model))


def model_of(view: Any) -> Any:
    """Return the model a view serves (its queryset's), or None."""
    queryset = getattr(view, "queryset", None)
    return getattr(queryset, "model", None)


def operation_of(request: Request, view: Any, model: Any) -> str:
    """Return the permission table's operation a request to ``view`` (serving ``model``) performs."""
    if request.method in SAFE_METHODS:
        return permissions.VIEW
    action = getattr(view, "action", None)
    if action is None:  # a method the route does not offer: answered 405, nothing done
        return permissions.VIEW
    if action == "bulk":
        verb = str(getattr(view, "kwargs", {}).get("verb", ""))
        # An unknown verb changes nothing: the bulk action answers 400 naming the verbs there are.
        return verb if permissions.has_row(model, verb) else permissions.VIEW
    return OPERATIONS.get(action, action)
