"""Token authentication: django-rest-knox's, refusing malformed tokens before they reach the database."""

from __future__ import annotations

import re

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions

# Tokens msproc issues are 64 hex characters; tokens migrated from DRF 40. Nothing else can match.
TOKEN_PATTERN = re.compile(rb"[0-9a-fA-F]{32,128}")


class TokenAuthentication(KnoxTokenAuthentication):
    """``Authorization: Token <token>``; a token that is not 32-128 hex characters is refused (401) at once."""

    def authenticate_credentials(self, token: bytes):
        if not TOKEN_PATTERN.fullmatch(token):
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token) -> bool:
        """Delete this token if it has expired (True). Knox also sweeps the user's other tokens here, one more
        query on every request; an expired token is refused and deleted when it is used, so that is not needed.
        """
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


def login_username(request, credentials: dict | None = None) -> str | None:
    """The username django-axes records for a login attempt: as typed, without NUL, cut to 150 characters.

    Usernames are at most 150 characters, and axes keeps them in a 255-character column: without the cut, a
    long made-up username failed the login page with a database error instead of counting as a failure.
    """
    from django.conf import settings

    field = settings.AXES_USERNAME_FORM_FIELD
    username = (credentials or {}).get(field) if credentials else getattr(request, "POST", {}).get(field)
    if username is None:
        return None
    return str(username).replace("\x00", "")[:150]
