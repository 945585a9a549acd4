"""Error-rule patterns, matched by RE2 (google-re2): in time linear in the text, whatever the pattern.

Staff type the patterns and every worker runs them on every failure, so Python's backtracking ``re`` (where
``(a+)+$`` takes years on a line of a's) is not used; RE2 refuses backreferences and lookaround instead.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

__all__ = ["RuleError", "re2_message", "rule_regex"]

#: What RE2 raises for a pattern it refuses.
RuleError = re2.error


@functools.lru_cache(maxsize=256)
def rule_regex(pattern: str) -> Any:
    """Return ``pattern`` compiled by RE2, multi-line. Raises ``re2.error``."""
    return re2.compile(f"(?m){pattern}")


def re2_message(exc: Exception) -> str:
    """RE2's reason (it comes as bytes), as text."""
    reason = exc.args[0] if exc.args else exc
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
