"""Small helpers for the server-rendered UI: htmx detection and access to views by the permission table."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from core import permissions, roles

#: A row of the permission table: (model label, operation), e.g. ("campaigns.campaign", "plan").
Permission = tuple[str, str]


def is_htmx(request: HttpRequest) -> bool:
    """True when htmx sent the request (it sets ``HX-Request: true``)."""
    return request.headers.get("HX-Request") == "true"


class RoleRequiredMixin(AccessMixin):
    """Anonymous users go to the login page; signed-in users the permission table refuses get 403.

    ``permission`` names the row every request needs (None: any role, for pages without one model);
    ``post_permission`` the row a POST needs besides. A view deciding from its URL (the verb of an action
    page) overrides ``get_permission``; ``operations`` lists every row a view asks, for the test that
    compares UI, API and admin (tests/security/test_permission_table.py).
    """

    permission: ClassVar[Permission | None] = None
    post_permission: ClassVar[Permission | None] = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        permission = self.get_permission()
        if permission is None:
            if not roles.can_view(request.user):
                raise PermissionDenied(f"This page needs a role; {request.user.get_username()} has none.")
        else:
            self.require(*permission)
        if request.method == "POST" and self.post_permission is not None:
            self.require(*self.post_permission)
        return super().dispatch(request, *args, **kwargs)

    def get_permission(self) -> Permission | None:
        """Return the row of the permission table every request to this view needs."""
        return self.permission

    def require(self, label: str, operation: str) -> None:
        """Raise PermissionDenied, naming the role, unless the table lets the user do ``operation``."""
        user = self.request.user
        if not permissions.allows(user, label, operation):
            role = roles.role_name(permissions.role_for(label, operation))
            raise PermissionDenied(f"This needs the {role} role ({label} {operation});"
                                   f" {user.get_username()} does not have it.")

    @classmethod
    def operations(cls) -> list[Permission]:
        """Every row of the permission table this view asks (its URL kwargs aside)."""
        return [row for row in (cls.permission, cls.post_permission) if row is not None]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(ui_permissions(self.request.user))
        return context


class ViewerRequiredMixin(RoleRequiredMixin):
    """Read access: any role (or the ``view`` row that ``permission`` names)."""


def ui_permissions(user: Any) -> dict[str, Any]:
    """Return what templates ask to show or hide buttons: ``may`` (``may.campaigns.campaign.add``)."""
    return {"may": permissions.UserPermissions(user)}
