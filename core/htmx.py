"""Small helpers for the server-rendered UI: htmx detection and role-based access to views."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from core.roles import can_admin_sites, can_operate, can_view


def is_htmx(request: HttpRequest) -> bool:
    """True when htmx sent the request (it sets ``HX-Request: true``)."""
    return request.headers.get("HX-Request") == "true"


class RoleRequiredMixin(AccessMixin):
    """Anonymous users go to the login page; signed-in users without the role get 403.

    Subclasses set ``role_check`` to one of the ``core.roles`` predicates.
    """

    role_check = staticmethod(can_view)
    role_name = "viewer, operator or site admin"  # named on the refusal page

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not self.has_role(request.user):
            raise PermissionDenied(f"This page needs the {self.required_role()} role;"
                                   f" {request.user.get_username()} does not have it.")
        return super().dispatch(request, *args, **kwargs)

    def has_role(self, user: Any) -> bool:
        return self.role_check(user)

    def required_role(self) -> str:
        """Return the role this view needs, for people (the refusal page names it)."""
        return self.role_name

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(ui_permissions(self.request.user))
        return context


class ViewerRequiredMixin(RoleRequiredMixin):
    """Read access: any role."""

    role_check = staticmethod(can_view)


class OperatorRequiredMixin(RoleRequiredMixin):
    """Campaign, step, group and movement actions."""

    role_check = staticmethod(can_operate)
    role_name = "operator"


class SiteAdminRequiredMixin(RoleRequiredMixin):
    """Site status actions."""

    role_check = staticmethod(can_admin_sites)
    role_name = "site admin"


def ui_permissions(user: Any) -> dict[str, bool]:
    """Return the flags templates use to show or hide action buttons."""
    return {"can_operate": can_operate(user), "can_admin_sites": can_admin_sites(user)}
