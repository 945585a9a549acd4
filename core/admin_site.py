"""The admin site: open to every msproc role; on msproc's models the permission table decides the rest.

Django's own admin lets in only ``is_staff`` users and decides by Django's model permissions. msproc's
roles are the one source instead: any role may sign in to the admin (a user without one is refused, as
in the UI and the API), and each msproc ModelAdmin (``core.admin_actions.TableAdmin``) asks the
permission table what the user may view, add, change, delete and act on. Models of other packages
(users, Celery beat schedules, tokens) keep Django's permissions, which roles do not grant.
"""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from core import roles


class RoleAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form: any active user with a role (not only ``is_staff``)."""

    def confirm_login_allowed(self, user) -> None:
        if not (user.is_active and roles.can_view(user)):
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login",
                                  params={"username": self.username_field.verbose_name})


class MsprocAdminSite(AdminSite):
    login_form = RoleAuthenticationForm

    def has_permission(self, request) -> bool:
        return request.user.is_active and roles.can_view(request.user)
