"""``manage.py create_token USER [--role ROLE] [--reset]``: create an API token for a user and print it once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import create_token
from core.roles import ROLES, ensure_roles


class Command(BaseCommand):
    help = ("Create an API token for USER and print it (only its hash is stored: it cannot be shown again); "
            "optionally add the user to a role.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=ROLES, help="Also add the user to this role group.")
        parser.add_argument("--reset", action="store_true", help="Revoke the user's other tokens first.")

    def handle(self, *args: Any, username: str, role: str | None, reset: bool, **options: Any) -> None:
        from knox.models import AuthToken

        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user called {username!r} (create it with createsuperuser or the admin)")
        if role:
            ensure_roles()
            user.groups.add(Group.objects.get(name=role))
        if reset:
            AuthToken.objects.filter(user=user).delete()
        _, token = create_token(user)
        self.stdout.write(token)
