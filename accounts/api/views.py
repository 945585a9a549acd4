"""``/api/v1/tokens/``: a signed-in user lists, creates and revokes their own API tokens."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import mixins, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.services import create_token, revoke_token, user_tokens

from .serializers import NewTokenSerializer, TokenSerializer


class TokenViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your own API tokens. Any signed-in user may manage their own; nobody sees another user's."""

    serializer_class = TokenSerializer
    permission_classes = [IsAuthenticated]
    lookup_field = "token_key"
    lookup_value_regex = "[^/]+"
    pagination_class = None

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return AuthToken.objects.none()
        return user_tokens(self.request.user)

    @extend_schema(summary="Create a token", request=None, responses={201: NewTokenSerializer},
                   description="The answer holds the token itself, shown this once: only its hash is stored.")
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        fields = sorted(request.data) if hasattr(request.data, "keys") else []
        if fields or (request.data and not hasattr(request.data, "keys")):
            # a client asking for an expiry (or anything else) must not get a token that silently ignores it
            why = "not accepted: a new token takes no fields; its lifetime is the server's MSPROC_API_TOKEN_TTL_DAYS"
            return Response({name: [why] for name in fields} or {"non_field_errors": [why]},
                            status=status.HTTP_400_BAD_REQUEST)
        row, token = create_token(request.user)
        data = NewTokenSerializer({"token_key": row.token_key, "created": row.created, "expiry": row.expiry,
                                   "token": token}).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Revoke one of your tokens", responses={204: None, 404: None})
    def destroy(self, request: Request, token_key: str | None = None) -> Response:
        if not revoke_token(request.user, token_key or ""):
            return Response({"detail": "You have no token with this key."}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)
