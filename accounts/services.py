"""API tokens: stored hashed (SHA-512, django-rest-knox), shown once at creation, revoked by their owner.

A token is identified by its ``token_key`` (its first 15 characters): enough to list and revoke it, never
enough to use it. The full token exists only in the answer to its creation.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from knox.models import AuthToken


def token_ttl() -> timedelta | None:
    """How long a new token lives (``MSPROC_API_TOKEN_TTL_DAYS``; None: until revoked)."""
    days = settings.MSPROC_API_TOKEN_TTL_DAYS
    return timedelta(days=days) if days else None


def create_token(user: Any) -> tuple[AuthToken, str]:
    """Create a token for ``user``; return the stored row (hash only) and the token itself, to show once."""
    return AuthToken.objects.create(user=user, expiry=token_ttl())


def user_tokens(user: Any) -> QuerySet[AuthToken]:
    """The tokens of ``user``, newest first."""
    return AuthToken.objects.filter(user=user).order_by("-created")


def revoke_token(user: Any, token_key: str) -> bool:
    """Delete ``user``'s token(s) whose key is ``token_key``; return False if ``user`` has none by that key.

    Only the owner's tokens are looked at: another user's key revokes nothing. A key that no token can
    have (not 1-15 hex characters) revokes nothing either, without a query.
    """
    if not re.fullmatch(r"[0-9a-fA-F]{1,15}", token_key or ""):
        return False
    deleted, _ = AuthToken.objects.filter(user=user, token_key=token_key).delete()
    return bool(deleted)
