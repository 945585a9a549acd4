"""``manage.py setup_roles``: create the role groups (viewer, operator, site admin, staff) if missing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from core.roles import ROLES, ensure_roles


class Command(BaseCommand):
    help = "Create the role groups: " + ", ".join(ROLES) + "."

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_roles()
        self.stdout.write(f"Roles: {', '.join(ROLES)}.")
