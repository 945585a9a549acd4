from knox.models import AuthToken
from rest_framework import serializers

from core.api.fields import StrictModelSerializer


class TokenSerializer(StrictModelSerializer):
    """A token as listed: its key (first characters, not usable alone), when it was created and expires."""

    class Meta:
        model = AuthToken
        fields = ["token_key", "created", "expiry"]
        read_only_fields = fields


class NewTokenSerializer(TokenSerializer):
    """A token just created: ``token`` is shown this once and never stored."""

    token = serializers.CharField(read_only=True)

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields
