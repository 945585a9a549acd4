"""API request parsers with bounds: a body nested too deeply is a 400 with a message, never a 500."""

from __future__ import annotations

import io
import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

__all__ = ["MAX_JSON_BYTES", "MAX_JSON_DEPTH", "BoundedJSONParser"]

#: Deepest nesting of objects and arrays accepted in a JSON request body.
MAX_JSON_DEPTH = 32
#: Largest JSON request body accepted (a spec of ``SPEC_MAX_BYTES`` with every character escaped fits).
MAX_JSON_BYTES = 8_000_000


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def _too_deep(text: bytes, limit: int) -> bool:
    """True if the JSON text nests objects/arrays deeper than ``limit`` (brackets inside strings ignored)."""
    depth = 0
    for match in _BRACKETS.finditer(_STRING.sub(b"", text)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than :data:`MAX_JSON_DEPTH` (400, ``detail`` says why)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        body = stream.read(MAX_JSON_BYTES + 1) if stream is not None else b""
        if len(body) > MAX_JSON_BYTES:
            raise ParseError(f"JSON parse error - the body is larger than {MAX_JSON_BYTES:,} bytes")
        if _too_deep(body, MAX_JSON_DEPTH):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels")
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:  # pragma: no cover - the depth check comes first
            raise ParseError("JSON parse error - nested too deeply") from None
