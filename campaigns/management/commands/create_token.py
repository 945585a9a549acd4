"""``manage.py create_token USER [--role ROLE] [--reset]``: print the API token of a user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.authtoken.models import Token

from core.roles import ROLES, ensure_roles


class Command(BaseCommand):
    help = "Print the API token of USER (created if missing); optionally add the user to a role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=ROLES, help="Also add the user to this role group.")
        parser.add_argument("--reset", action="store_true", help="Replace an existing token with a new one.")

    def handle(self, *args: Any, username: str, role: str | None, reset: bool, **options: Any) -> None:
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user called {username!r} (create it with createsuperuser or the admin)")
        if role:
            ensure_roles()
            user.groups.add(Group.objects.get(name=role))
        if reset:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
