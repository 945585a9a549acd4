"""Serializer fields for what users type: text must arrive as text.

DRF's ``CharField`` turns a JSON number into a string (``{"spec": 42}`` becomes the YAML document ``42`` and
``{"name": 42}`` a campaign named ``42``); these refuse it at the field instead.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A ``CharField`` that accepts only a JSON string (or null where allowed): "Not a valid string." otherwise."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictModelSerializer(serializers.ModelSerializer):
    """A ``ModelSerializer`` whose text fields (CharField, TextField and their subclasses) are `StrictCharField`."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
    }
